// Package ledger is the controller's durable memory: one SQLite file holding
// sessions, containers, vouchers, the voucher buffer, bags, seals, faults,
// calibrations, the catalogue snapshot and the outbox (package outbox) of
// everything the operator will receive.
//
// # Durability
//
// The file is opened in WAL mode with synchronous FULL, through a single
// writer connection whose transactions begin IMMEDIATE. Every method that
// changes money commits before it returns: when it returns nil, the fact
// survives a power cut. Records for the outbox are appended inside the same
// transaction as the fact they report, so a record exists if and only if its
// fact does.
//
// # In-transit containers
//
// An accepted container is recorded "in transit" before it can reach the bag
// ([Ledger.RecordContainer]); the bag scale later confirms it. Confirmation
// is kept in memory by the controller and persisted with the next commit
// ([Ledger.RecordContainer] and [Ledger.FinishSession] take the ids to mark
// credited). After a power cut, [Ledger.InTransit] lists what was never
// confirmed and the controller settles it against the bag scale: what is
// physically in the bag is credited exactly once, the rest is deleted.
//
// # Schema versions
//
// The schema is a series of goose migrations embedded from migrations/,
// applied at [Open], each in its own transaction. Version 1 is the ledger
// as release 0.1 wrote it (testdata/release-0.1.db is such a file, and the
// tests migrate it keeping every row), so installing a newer rvmd over a
// machine with a full ledger migrates it at start. A ledger at a newer
// version than the binary knows is refused with [ErrSchemaTooNew]: an older
// rvmd never runs on money it might misread. A released migration file is
// never edited; a change is a new numbered file.
//
// The outbox's tables belong to package outbox, whose Init creates what is
// missing before the migrations run (the ledger's triggers write into
// them). Version 6 is the outbox's gateway confirmations: its tables come
// from outbox.Init, and the version keeps an older rvmd, which would free a
// record on the broker's PUBACK alone, off the ledger. Records a ledger
// held before version 6 start unconfirmed.
//
// # Voucher prints
//
// A paper voucher is due in voucher_prints from the commit that issues it;
// [Ledger.MarkPrinted] records that the printer confirmed it, and
// [Ledger.UnprintedVouchers] lists the rest for a reprint.
//
// # Container batches
//
// A container's row is noted as unbatched by a trigger in the transaction
// that records it. [Ledger.FlushContainers] (the controller calls it when a
// run reaches its size or age) and [Ledger.FinishSession] (before the
// transaction) turn a session's noted containers into one "containers"
// event and forget the notes in the same transaction, so after any power
// cut each container is either noted or in exactly one batch. A batch's id
// ([ContainerBatchID]) is derived from its session and first container: a
// batch sent again after a power cut carries the same id and the gateway
// keeps it once.
//
// # The technician console
//
// The console (internal/service) keeps its memory here too: the technician
// PIN's salted hash ([Ledger.SetPIN]), the audit log of every login,
// refusal, lockout and act, each entry with its "audit" event in the same
// transaction ([Ledger.Audit]), and every calibration's old and new factors
// and references ([Ledger.RecordCalibration], [Ledger.CalibrationHistory]).
//
// # Concurrency
//
// A Ledger is safe for concurrent use; writes are serialised by SQLite's
// single writer connection. The controller is its only writer of money facts.
package ledger
