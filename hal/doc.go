// Package hal describes the reverse-vending machine's hardware as small
// interfaces and value types, and nothing else: no drivers, no logic.
//
// The controller (package machine) sees the machine only through these
// interfaces. The drivers under hal/periph implement them on a Raspberry Pi
// with periph.io, one package per device, wired by hal/periph/board;
// hal/sim implements them on a simulated machine.
//
// # What moves and what is read
//
// Things that happen by themselves arrive as [Event] values: a light barrier
// breaking or clearing, the scanner reading a code, the door opening, the seal
// reader scanning a seal, a device reporting a fault. Things the controller
// asks for are methods: [LoadCell.ReadRaw], [MetalSensor.Metal],
// [ShapeSensor.Measure]. Actuators ([Conveyor], [Printer]) are commanded; every
// conveyor run carries a dead-man limit after which the belt stops by itself.
//
// A [Scanner] reports its reads as events too; the controller only tells it
// when a new container starts ([Scanner.NextContainer]), so a code read twice
// for one container is one read. A [Printer] error that wraps a [Fault]
// (paper out, cover open) names what a person must fix; Fault is an error
// for that reason.
//
// Load cells report raw ADC counts, never grams: package calib turns counts
// into [physic.Mass] with a calibration the technician made.
//
// # The drivers
//
// The real drivers live under hal/periph, one package per device as
// periph.io arranges its own: hx711 (the scales' ADC), barrier (debounced
// light barriers and the door switch), conveyor (direction and enable, with
// a dead-man limit), gate (the sorter flap, every pulse bounded), metal,
// curtain (the shape sensor), scanner (barcode scanners and the seal
// reader on a serial port) and escpos (the voucher printer); board is the
// Pi's wiring: a pin map parsed and validated, the drivers opened on it,
// and the self-test. Drivers do not own their pins: they take a gpio.PinIn
// or gpio.PinOut that the caller opened (gpioreg.ByName after host.Init,
// which only board does) and leave it open on Halt. Tests use periph's own
// gpiotest pins, pseudo-terminals, or a simulated chip where the device
// answers the driver (the HX711). hal/sim is the simulated machine.
package hal
