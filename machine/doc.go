// Package machine is the controller of the reverse-vending machine: the
// customer's session, the acceptance rules, crediting, the bag, vouchers and
// latched faults, on top of the intake state machine (package fsm), the
// hardware (package hal) and the SQLite ledger (package ledger).
//
// # Usage
//
// A [Controller] is a single-threaded object. One loop feeds it hardware
// events with [Controller.Handle], calls [Controller.Tick] when
// [Controller.Deadline] passes, and runs operator acts (finish, bag
// exchange, service) between them:
//
//	c, err := machine.New(ctx, devices, ledger, opts) // resumes from the ledger
//	for {
//		select {
//		case ev := <-events:
//			c.Handle(ctx, ev)
//		case <-timer(c.Deadline()):
//			c.Tick(ctx)
//		}
//	}
//
// On the simulated machine a discrete-event runner (package simrun) plays
// that loop on a fake clock.
//
// # Money
//
// A container is credited only once it is in the bag: it is recorded "in
// transit" durably when the rules accept it (before the belt can bring it to
// the bag), and credited when the bag scale grows by its weight. After a
// power cut, [New] settles what was in transit against the bag scale, so
// what is physically in the bag is credited exactly once and what is not is
// not. The open session is then finished with a voucher.
//
// # Paper vouchers
//
// A voucher is issued once, in the commit that finishes its session; the
// ledger keeps it due for printing until the printer confirms the whole
// ticket. A print that fails (paper out, cover open: latched as faults; any
// other error) leaves it due, and it is printed again under the same code
// on a later Tick (with back-off, only while no session is open), at
// ClearFault and at start, never issued again.
//
// # Observing
//
// Options.OnEvent, when set, is told on the loop what a customer would see
// (the kiosk page shows it): each container's verdict ([ContainerDecided],
// with [Verdict.Why] telling cause 1 and 6 reasons apart), the running total
// once the bag confirmed a credit ([SessionTotal]), the session's end
// ([SessionEnded]) and the state a customer sees ([StateChanged]: ready,
// busy, bag full, out of order, service). The values carry no HTTP or
// MQTT; the observer must not block.
//
// # The technician console
//
// The console's server (internal/service) works through the loop: it reads
// the cells and drives the belt through [Controller.Devices] and
// [Controller.Cell], puts a calibration in use with
// [Controller.UseCalibration] after it stored it in the ledger, and prints
// a lost voucher again with [Controller.Reprint]. After every bag exchange
// the controller's drift watch compares the new, empty bag's tare with the
// previous bag's and, beyond Options.DriftLimit, raises a service warning
// in the ledger with a "service-warning" event.
//
// # Concurrency
//
// Controller methods must be called from one goroutine. [Controller.Status]
// is the exception: it returns a snapshot and is safe from any goroutine.
package machine
