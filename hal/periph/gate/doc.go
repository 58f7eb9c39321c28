// Package gate drives the sorter flap (or diverter) behind the chamber on
// one GPIO output, typically a relay or a solenoid driver's input.
//
// # Usage
//
//	g, err := gate.New(pin, &gate.DefaultOpts)
//	err = g.Pulse(300 * time.Millisecond) // open, then back to rest by itself
//	defer g.Halt()                        // at rest, whatever was running
//
// # Dead-man limit
//
// Every Pulse is bounded: the output returns to rest after d, capped at
// Opts.MaxPulse, on the clock's AfterFunc, whether or not the caller is
// still alive; Halt puts it at rest at once. A solenoid held open burns out
// and a flap left open sorts every container the same way, so no command
// can leave it energised.
//
// # Concurrency
//
// A Dev is safe for concurrent use.
package gate
