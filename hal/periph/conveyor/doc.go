// Package conveyor drives the belt motor through a DC motor driver's
// direction and enable inputs (e.g. a Cytron MD10C, or an L298N's IN1 and
// ENA with IN2 tied inverted), with a dead-man limit on every run.
//
// Datasheets: https://www.cytron.io/p-10amp-5v-30v-dc-motor-driver,
// https://www.st.com/resource/en/datasheet/l298.pdf
//
// # Usage
//
//	belt, err := conveyor.New(gpioreg.ByName("GPIO23"), gpioreg.ByName("GPIO24"), nil, events)
//	err = belt.Forward(2 * time.Second) // stops by itself after 2 s unless renewed
//
// Every run is bounded, as Klipper bounds its motors: Forward and Reverse
// take a dead-man limit (capped at Opts.MaxLimit) after which the motor is
// disabled and a [hal.ConveyorHalted] event is sent, so a controller that
// dies mid-run never leaves the belt running. The direction pin changes
// only while the motor is disabled.
//
// # Concurrency
//
// Dev is safe for concurrent use. The dead-man timer runs in its own
// goroutine only while a run is pending, and drops its event once the
// conveyor is halted. The pins stay the caller's.
package conveyor
