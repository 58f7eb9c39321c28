// Package outbox is the durable queue of everything the machine hands on.
//
// The ledger appends a [Record] in the same SQLite transaction as the fact it
// reports (a finished session, a bag exchange), so a record exists if and only
// if its fact does. Each record gets the next sequence number of the machine,
// counting up without gaps and never reused, also after records were removed.
// The MQTT publisher (package telemetry) reads [Pending] records in sequence
// order and acknowledges each with [Ack] only once the broker acknowledged
// it. An acknowledged run from the oldest record on only moves a mark (the
// row outbox_acked): it leaves Pending and [Depth] at once, and [Sweep]
// deletes the rows later, in chunks, when the drain is idle.
//
// # Concurrency
//
// The functions take a [DBTX] (a *sql.DB or *sql.Tx); serialising writers is
// the caller's business (the ledger keeps one writer connection).
package outbox
