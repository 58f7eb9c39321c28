// Package store is the gateway's durable state: the events received from
// the fleet, the quarantine of events refused at the door, the forwarding
// queue with its per-machine leases, the failure report, the vouchers the
// POS redeems, the catalogue, and what the fleet view shows.
//
// One schema runs on two databases: SQLite (a file path, the single-node
// default: WAL, synchronous FULL, one writer connection, immediate
// transactions) and PostgreSQL (a postgres:// URL, for several replicas).
// Every commit waits for the disk except the forwarder's bookkeeping
// (leases, delivery records), which a crash may lose without harm: those
// commit lazily, and the next durable commit carries them to disk.
// Queries are written with ? placeholders and rebound for PostgreSQL. Times
// are stored as Unix milliseconds so that both compare them the same way.
//
// # Schema versions
//
// The schema is a series of numbered files in migrations/, written once for
// both databases ({{id}} and {{blob}} are the two types they spell
// differently) and applied by goose at Open, each in its own transaction;
// PostgreSQL replicas starting together take turns under a session lock.
// Version 1 is the store as release 0.1 made it, so an existing database is
// taken over unchanged. A database at a newer version than the build knows
// is refused (ErrSchemaTooNew). A released file is never edited.
//
// # Usage
//
//	st, err := store.Open(ctx, "gateway.db") // or "postgres://..."; store.WithClock(clk) to see time through clk
//	defer st.Close()
//	res, err := st.SaveBatch(ctx, batch)      // commit, then ack the MQTT messages
//	ms, err := st.ClaimMachines(ctx, owner, now, lease, 16)
//
// # Concurrency
//
// A [Store] is safe for concurrent use. Replicas sharing one PostgreSQL
// database coordinate through it alone: a machine's forwarding queue is
// claimed with SELECT ... FOR UPDATE SKIP LOCKED and a lease, so that only
// one replica delivers a machine's events at a time; a replica that dies
// mid-delivery leaves a lease that expires, and the operator's 409 on a
// repeated transaction id makes the second delivery harmless. Every
// transaction that writes several rows of a table writes them in key order
// (events by id, machines' queues and statuses by serial, vouchers by
// code), so that two replicas' transactions cannot deadlock: PostgreSQL
// breaks a deadlock only after a second, and a transaction retried after
// it (transient errors are retried quietly) held the forwarder up past its
// gap wait (TestRecordForwardingLocksInKeyOrder).
package store
