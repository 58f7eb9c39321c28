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
package hal
