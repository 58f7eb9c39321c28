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
package simrun
