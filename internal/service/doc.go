// Package service is the technician console's server: the service socket
// rvmd serves beside the controller's loop, and what a technician may do
// through it (cmd/rvmctl is the client, package wire the protocol).
//
// # Access
//
// The socket is a Unix socket created with mode 0600 (only the daemon's
// user, or root, may connect). A session starts with "login" and the
// technician PIN, checked against the salted PBKDF2-SHA256 hash that
// "rvmd pin set" stored in the ledger ([HashPIN], [CheckPIN]); while no PIN
// is set every login is refused. [Options.MaxTries] (5) wrong PINs in a
// row lock the console for [Options.Lockout] (configuration key
// consoleLockout, default 5 minutes), during which even the right PIN is
// refused. The count of wrong PINs and the lockout's end are kept in the
// ledger, so a restart or a power cut hands a guesser neither fresh tries
// nor an early end. Every login, refusal and lockout, and every act, is written to
// the ledger's audit log and, in the same transaction, appended to the
// outbox as an "audit" event for the fleet (ledger.Ledger.Audit). Looking
// (status, sensors, scale read, calib show, calib history, log) is not
// audited.
//
// # Acts
//
// Every look at or change of the machine runs on the controller's loop
// through [DoFunc] (the daemon's act runner), so the console never races a
// container: bag exchange and seal replacement as the machine records them
// for the operator, fault clear (audited with the session as "by"), service
// on|off (machine.BlockService), a conveyor run within its dead-man limit
// (only while intake is blocked), a voucher reprint, a new registration
// request. On the simulated machine [Sim] gives the technician's hands: a
// reference mass on the bag scale, the bag swap, a jam taken out.
//
// # Calibration
//
// Klipper's load-cell calibration is the model. "calib tare" takes
// [Options.Samples] readings [Options.SampleEvery] apart and refuses them
// unless they agree within a gram's worth of counts (calib.Stable); it
// also blocks intake (service mode) until accept or abort. Each "calib
// span -grams G" reads the reference the same way and refuses it near the
// tare, beyond the cell's [Capacity] or at the ADC's rails; with more than
// one reference the gain is the least-squares slope, with a linearity
// report (calib.Fit). The factors in use change only on "calib accept",
// which stores the new calibration, the old and new factors, the
// references and the session in one ledger transaction
// (ledger.Ledger.RecordCalibration) before the controller uses them;
// "calib abort" leaves the old ones.
//
// A calibration under way belongs to its scale. Started by a guided
// session ("rvmctl calibrate" sends its tare with hold), it is that
// session's: any other session is told the scale is busy, and if the
// session ends early the daemon aborts it. Started by one-shot commands,
// any one-shot session may continue, accept or abort it, but a guided
// session is told it is busy.
//
// # Drift watch
//
// After every bag exchange (on the console, by the fleet or with the seal
// reader) the controller compares the new, empty bag's tare with the
// previous bag's (machine.Options.DriftLimit, configuration key
// driftWarnG, default 20 g): a scale that drifted would credit containers
// by a wrong bag growth and make bag reports disagree with their contents.
// It raises a service warning, kept in the ledger, and sends a
// "service-warning" event. status and bag exchange show the warnings in
// force; accepting a new bag scale calibration clears the drift warning.
//
// # Concurrency
//
// A Server serves sessions concurrently; its lockout and calibration
// state is guarded by one mutex, and the machine is only touched on the
// loop.
package service
