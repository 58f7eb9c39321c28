// Package simrun plays a scenario (docs/interfaces.md, "Scenario format") against the real
// controller on the simulated machine, as a discrete-event simulation on a
// fake clock: hardware events from hal/sim and the controller's deadlines
// are delivered in time order, one at a time, so the same scenario and seed
// give the same output bytes on every run and every architecture.
//
// Everything the machine hands on (the outbox records of the kinds the
// operator receives) is written to the output as one JSON object a line,
// {"kind": ..., "body": ...}, in the order it was committed.
//
// A power cut, whether a scenario step or a phase of a container's trip,
// discards the controller with everything it held in memory, restores the
// simulated machine's power (what is not in the bag is handed back) and
// starts a new controller from the ledger file, as a real restart would.
//
// # The rig: -hal pins
//
// With Options.HAL set to HALPins the controller drives the real drivers of
// hal/periph, opened by package board from a Pi's wiring (rigWiring in
// pins.go), on the simulated machine's pins (sim.Pins): a barrier or door
// event of the machine becomes a level on its line and the controller gets
// what the barrier driver reports; the conveyor driver's dead-man timer is a
// step of the simulated schedule; the scales are HX711 chips the driver
// clocks. Everything stays on the simulated clock, so the output is byte for
// byte the plain run's (pins_test.go and cmd/rvmd's golden test check it).
// A power cut halts the board with the controller and opens a new one.
// [SelfTestRig] runs the board's self-test there.
//
// The serial devices are real too (serial.go): the scanner, the seal reader
// and the voucher printer are pseudo-terminals (github.com/creack/pty) whose
// ports the board's wiring names. A code the machine reads is typed into the
// scanner's with an AIM identifier and CR LF (a damaged one as the
// scanner's no-read text), and the rig waits until the real scanner driver
// has turned it into its event, stamped by the simulated clock, before the
// clock moves on; a dead scanner is unplugged (the driver reports it) and
// plugged back when the technician clears the faults. The printer's other
// end is a fake ESC/POS printer (escpostest) that answers the status
// queries; Options.PrinterOut gets every byte it received (`rvmd simulate
// -hal pins -printer-out FILE`). A code no scanner could send (control
// bytes, not ASCII) is handed over as it is.
package simrun
