// Package periph is the parent of the reverse-vending machine's real
// hardware drivers on a Raspberry Pi, one package per device as periph.io
// arranges its own, each on periph.io's gpio interfaces:
//
//   - [github.com/deposit-rvm/rvm/hal/periph/hx711]: the load cells' ADC (chamber and bag scales)
//   - [github.com/deposit-rvm/rvm/hal/periph/barrier]: debounced light barriers and the door switch
//   - [github.com/deposit-rvm/rvm/hal/periph/conveyor]: the belt motor, direction and enable, with a dead-man limit
//   - [github.com/deposit-rvm/rvm/hal/periph/metal]: the inductive metal sensor
//   - [github.com/deposit-rvm/rvm/hal/periph/curtain]: the shape sensor, two measuring light curtains
//   - [github.com/deposit-rvm/rvm/hal/periph/board]: the Pi's wiring: a pin map parsed and validated, the drivers opened on it, and the self-test
//
// Drivers do not own their pins: they take a gpio.PinIn or gpio.PinOut that
// the caller opened (gpioreg.ByName after host.Init, which only package
// board does) and leave it open on Halt. Constructors read
// New(pins..., opts) with a DefaultOpts, and touch nothing but their pins.
// There are no init-time registries and no globals. Tests use periph's own
// gpiotest pins, or a simulated chip where the device answers the driver
// (the HX711).
//
// This package holds no code.
package periph
