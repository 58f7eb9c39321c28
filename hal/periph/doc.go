// Package periph drives the reverse-vending machine's real hardware on a
// Raspberry Pi through periph.io's gpio interfaces: the HX711 load-cell ADC,
// light barriers and the door switch, the belt motor and the metal sensor.
//
// Drivers do not own their pins: they take a gpio.PinIn or gpio.PinOut that
// the caller opened (gpioreg.ByName after host.Init) and leave it open on
// Halt. There are no init-time registries and no globals.
//
// # Usage
//
//	events := make(chan hal.Event, 16)
//	cell, err := periph.New(gpioreg.ByName("GPIO5"), gpioreg.ByName("GPIO6"), nil) // HX711, gain 128
//	entry, err := periph.NewBarrier(gpioreg.ByName("GPIO17"), hal.EntryBlocked, hal.EntryCleared,
//		&periph.SwitchOpts{ActiveLow: true}, events)
//	door, err := periph.NewDoor(gpioreg.ByName("GPIO27"), nil, events)
//	belt, err := periph.NewConveyor(gpioreg.ByName("GPIO23"), gpioreg.ByName("GPIO24"), nil, events)
//	metal, err := periph.NewMetalSensor(gpioreg.ByName("GPIO22"), gpio.PullUp, true)
//	raw, err := cell.ReadRaw() // then calib.Median over a few, then calib
//
// # HX711
//
// The datasheet: https://cdn.sparkfun.com/datasheets/Sensors/ForceFlex/hx711_english.pdf
//
// DOUT goes low when a conversion is ready; 24 clock pulses shift it out MSB
// first, and 1, 2 or 3 more select the gain of the next conversion (128 and
// 64 on channel A, 32 on channel B). Holding PD_SCK high for over 60 us
// powers the chip down, so [Dev.ReadRaw] locks its goroutine to the OS
// thread while shifting, times every pulse, and throws away a conversion
// whose clock ran long (and the one after, which may use the power-on
// gain). It waits for DOUT with WaitForEdge in bounded slices (never -1:
// on gpioioctl that times out at once) and reads the level between them, so
// a missed edge costs one slice, and gives up with [ErrTimeout]. Readings at
// the rails are returned as they are; package calib refuses them.
//
// # Events
//
// A [Switch] (a light barrier or the door) and the [Conveyor]'s dead-man
// limit report [hal.Event] values on a channel the caller provides, usually
// one channel for the whole machine that the controller loop reads.
//
// # Concurrency
//
// Every type is safe for concurrent use. No lock is held while waiting for
// an edge. A Switch has one watcher goroutine, which Halt ends and waits
// for; the Conveyor's dead-man timer runs in its own goroutine only while a
// run is pending, and drops its event once the conveyor is halted. Dev has
// no goroutine at all: Halt makes a waiting ReadRaw return within
// Opts.Poll.
package periph
