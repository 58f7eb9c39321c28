// Package sim is a simulated reverse-vending machine on a simulated clock: a
// discrete-event model whose containers really move and whose bag scale
// weighs what is physically in the bag. The controller sees it only through
// package hal, exactly as it sees a real machine.
//
// # Usage
//
// A runner owns the loop, on one goroutine:
//
//	clk := clock.NewFake(start)
//	m, err := sim.New(clk, sim.DefaultConfig(seed))
//	ctrl := machine.New(m.ChamberCell(), m.BagCell(), m.Conveyor(), ...)
//	m.Insert(sim.Container{Code: "5901234123457", Mass: 25 * physic.Gram})
//	for {
//		at, ok := m.NextAt()
//		// if the controller's deadline comes first: clk.Set(deadline); ctrl.Tick()
//		ev, cut, ok := m.Pop() // moves clk to the event
//		if cut != sim.CutNone { /* kill the controller */ m.PowerRestored(); ... }
//		ctrl.Handle(ev) // may command the conveyor, which schedules more
//	}
//
// Insert fails with [ErrChuteBusy] while a container is still in the machine
// ([Machine.Busy]); the runner waits and retries.
//
// # Timeline
//
// The belt moves a container only while it runs; every step below is
// relative to the command (or to the step before, where it says so), and
// steps at the same instant happen in the order they were scheduled.
//
//   - Insert: EntryBlocked now. The container waits in the entry barrier.
//   - Forward from the entry: EntryCleared at ToScanner/2, BarcodeRead at
//     ToScanner (ReadOK with the code, or ReadDamaged; nothing for a missing
//     code or a dead scanner), ChamberBlocked at ToChamber. The chamber holds
//     the container: the run ends there even if the belt keeps turning.
//   - In the chamber the chamber cell weighs it, the metal sensor senses it,
//     the shape sensor measures it (within half a millimetre).
//   - Forward from the chamber: ChamberCleared at once, ExitBlocked at
//     ToExit, ExitCleared at the same instant (it tips over the edge), and
//     ToBag later it is in the bag: journaled, then on the bag scale. There
//     is no event for the landing; the controller reads the bag cell after its
//     settle time. Past the exit barrier nothing stops it: not Stop, not a
//     jam, not a power cut.
//   - Forward from the chamber with Pullback: the customer pulls it out:
//     ChamberCleared at once, EntryBlocked at BackToChute/2, EntryCleared at
//     BackToChute, and it has left the machine.
//   - Reverse from the chamber: ChamberCleared at once, EntryBlocked at
//     BackToChute, EntryCleared CustomerTake later when the customer has
//     taken it. Reverse from the entry: EntryCleared at CustomerTake.
//
// Stop halts the belt where it is: the pending step of the move is
// cancelled and the container stays between the barriers it last passed (a
// later run restarts from there; progress between barriers is not kept). A
// new Forward or Reverse replaces the running one. If the dead-man limit runs
// out while the move is still under way, the belt stops and ConveyorHalted is
// reported; a belt left running after its move finished stops silently. A
// jammed belt accepts commands and moves nothing, and every run ends in
// ConveyorHalted.
//
// # Power cuts
//
// A container's CutAt makes the power fail during its trip. Pop reports it as
// a [Cut]: CutScanned with the BarcodeRead event (or a zero event where no
// code was read) meaning "this happened, then the power died";
// CutChamber with a zero event the instant the controller commands Forward
// from the chamber (the container has not moved); CutBag with a zero event
// the instant the container lands in the bag. The runner then discards the
// controller, calls [Machine.PowerRestored] and starts a new one from its
// database.
//
// # Physical truth
//
// [Machine.InBag] and [Machine.Dropped] say what really happened. With
// Config.StatePath set, each drop and each bag exchange is appended to a
// journal and fsynced before it can be observed, and [New] replays it, so a
// real rvmd process that is SIGKILLed and restarted finds the same bag; crash
// tests compare the ledger with [ReadJournal].
//
// # At the pin level
//
// [Machine.Pins] is the same machine as GPIO lines, for the real drivers of
// hal/periph to run on (`rvmd simulate -hal pins`): barrier and door events
// become levels on their lines, the metal sensor's line reads the sensor,
// the conveyor's direction and enable lines run the belt, the driver's
// dead-man timer is a step of the schedule on the simulated clock, and each
// load cell is an [HX711] that answers the driver's clock pulses with the
// bits of a conversion. The shape sensor stays as it is; the scanner, seal
// reader and printer are not the machine's business at this level: the
// rig (internal/simrun) turns their events into bytes on pseudo-terminals
// that the real serial drivers read and write. The output is byte for byte the same as with the plain
// devices (internal/simrun checks it).
//
// # Calibration
//
// The cells follow Config's CellModels exactly unless the runner asks for
// [Config.WithCellErrors]: a seeded gain error of 2 to 6 percent and an
// offset error, so that a controller started with the data sheet's
// factors weighs a few percent wrong until calibrated (rvmd run -sim).
// [Machine.PlaceReference] puts a technician's reference mass on the bag
// scale and [Machine.ClearReference] takes it off.
//
// # Determinism
//
// For a given seed and the same sequence of calls, everything is the same:
// noise comes from one PCG generator, the queue is ordered by time then by a
// sequence counter, and there are no goroutines, no maps and no wall clock.
//
// # Concurrency
//
// A Machine and its devices are safe for concurrent use (one mutex), but the
// model is a single timeline: drive it from one goroutine.
package sim
