// Package machine is the controller of the reverse-vending machine: the
// customer's session, the acceptance rules, crediting, the bag, vouchers and
// latched faults, on top of the intake state machine (package fsm), the
// hardware (package hal) and the SQLite ledger (package ledger).
//
// # Usage
//
// A [Controller] is a single-threaded object, and a [Loop] is the one
// goroutine that drives it, for any set of [Devices] (the Pi's board or the
// simulator): it hands the devices' events to [Controller.Handle], calls
// [Controller.Tick] when [Controller.Deadline] passes (a timer on the
// controller's clock), and runs operator acts (fleet commands, the console,
// staff: finish, bag exchange, service) between them:
//
//	opts := machine.OptionsFromConfig(cfg) // plus Clock, RvmID, Catalog
//	c, err := machine.New(ctx, devices, ledger, opts) // resumes from the ledger
//	loop := machine.NewLoop(c)
//	go loop.Run(ctx) // until ctx ends; then a safe stop
//	v, err := loop.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
//		return nil, c.Finish(ctx, machine.PayoutVoucher, "")
//	})
//
// When ctx ends the loop goes on until no container is on its way, finishes
// an open session with a voucher (the customer's credit is never lost) and
// returns. The deterministic scenario player (package simrun) calls Handle
// and Tick itself on a fake clock instead.
//
// # Calibration
//
// The load cells' calibrations come from the ledger's calibration history
// (the technician's console writes it). While either cell has none, intake
// is blocked with [BlockUncalibrated] ("scale not calibrated");
// [Controller.Recalibrate] reloads them.
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
// Controller methods must be called from one goroutine: the loop's, so from
// acts. [Controller.Status] is the exception: it returns a snapshot and is
// safe from any goroutine. [Loop.Do] is safe from any goroutine.
package machine
