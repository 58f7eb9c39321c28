// Package outbox is the durable queue of everything the machine hands on.
//
// The ledger appends a [Record] in the same SQLite transaction as the fact it
// reports (a finished session, a bag exchange), so a record exists if and only
// if its fact does. Each record gets the next sequence number of the machine,
// counting up without gaps and never reused, also after records were removed.
//
// A record goes through two states before it may be deleted:
//
//   - sent: the broker acknowledged it. The MQTT publisher (package
//     telemetry) reads [Pending] records in sequence order and marks each
//     with [Ack] once the broker's PUBACK arrived. An acknowledged run from
//     the oldest pending record on only moves a mark (the row outbox_acked):
//     it leaves Pending and [Depth] at once.
//   - confirmed: the gateway says it committed it ([Confirm], from its
//     message on rvm/SERIAL/ack). A broker can acknowledge a message and
//     still lose it (a restart that forgot the gateway's subscription), so
//     the broker's word alone does not free a record. Confirmation is a mark
//     too (outbox_confirmed) plus the confirmed runs above it
//     (outbox_confirm_ranges), a few rows however many records they cover.
//     A machine whose gateway does not confirm calls [ConfirmSent] after
//     each Ack: then a PUBACK is enough, as before confirmations existed.
//
// [Sweep] deletes the records that are both, in chunks, when the drain is
// idle. [Unconfirmed] lists the sent records the gateway has not confirmed
// below a seq, for the publisher to send again; [Confirmations] and
// [Stored] report the state in constant time.
//
// The ledger's migration 6 (machine/ledger/migrations) records the schema
// version that added confirmations; [Init] creates the tables on any
// database, the ledger's included.
//
// # Concurrency
//
// The functions take a [DBTX] (a *sql.DB or *sql.Tx); serialising writers is
// the caller's business (the ledger keeps one writer connection).
package outbox
