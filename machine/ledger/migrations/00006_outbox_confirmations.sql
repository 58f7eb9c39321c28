-- The gateway confirms what it committed (rvm/SERIAL/ack), and the outbox
-- keeps every record until then: a broker's PUBACK alone no longer frees
-- one (telemetry/outbox, "confirmed"). The tables are the outbox's own:
-- outbox.Init creates them on every database it opens, the ledger's before
-- its migrations run, so on a ledger these statements find them made.
-- They are here because this version changes what the ledger's outbox
-- means: an rvmd from before it would delete, on the broker's word alone,
-- records the gateway has not confirmed, so it must refuse this ledger
-- (ErrSchemaTooNew). Records already in the outbox start unconfirmed: a
-- gateway that has them confirms them again as duplicates.
-- +goose Up
CREATE TABLE IF NOT EXISTS outbox_confirmed (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	upto INTEGER NOT NULL,
	top  INTEGER NOT NULL,
	rows INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_confirmed (one, upto, top, rows) VALUES (1, 0, 0, 0);
CREATE TABLE IF NOT EXISTS outbox_confirm_ranges (
	lo INTEGER PRIMARY KEY,
	hi INTEGER NOT NULL
);
