-- The ledger as release 0.1 made it (before versioned migrations). Every
-- statement is IF NOT EXISTS, so a ledger that release wrote is taken over
-- as version 1 unchanged.
-- +goose Up
CREATE TABLE IF NOT EXISTS meta (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	rvm_id      TEXT NOT NULL,
	bag_id      TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	ended_at    TEXT,
	payout      TEXT,
	phone       TEXT,
	voucher_id  TEXT,
	amount      INTEGER,
	body        BLOB
);
CREATE TABLE IF NOT EXISTS containers (
	id          INTEGER PRIMARY KEY,
	session_id  TEXT NOT NULL REFERENCES sessions(id),
	bag_id      TEXT NOT NULL,
	ean         TEXT NOT NULL,
	cause       INTEGER NOT NULL,
	weight_mg   INTEGER NOT NULL,
	deposit     INTEGER NOT NULL,
	state       INTEGER NOT NULL,
	decided_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_session ON containers(session_id);
CREATE INDEX IF NOT EXISTS containers_bag ON containers(bag_id, state);
-- The "container" event is written by the database in the same statement
-- as the container: one round trip a container, and the two can never
-- disagree.
-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS container_event AFTER INSERT ON containers BEGIN
	INSERT INTO outbox (seq, id, kind, ts, rvm_id, body) VALUES (
		(SELECT seq + 1 FROM outbox_counter WHERE one = 1),
		NEW.session_id || '-c' || NEW.id, 'container', NEW.decided_at,
		(SELECT rvm_id FROM sessions WHERE id = NEW.session_id),
		json_object('transactionId', NEW.session_id, 'ean', NEW.ean, 'rejectionCauseCode', NEW.cause,
			'weightMg', NEW.weight_mg, 'depositGrosze', NEW.deposit));
END;
-- +goose StatementEnd
CREATE TABLE IF NOT EXISTS vouchers (
	id             TEXT PRIMARY KEY,
	transaction_id TEXT NOT NULL UNIQUE,
	amount         INTEGER NOT NULL,
	print_type     INTEGER NOT NULL,
	issued_at      TEXT NOT NULL,
	valid_until    TEXT NOT NULL,
	source         TEXT NOT NULL,
	phone          TEXT
);
CREATE TABLE IF NOT EXISTS voucher_buffer (
	n           INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	print_type  INTEGER NOT NULL,
	issued_at   TEXT,
	valid_until TEXT,
	used        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bags (
	id         TEXT PRIMARY KEY,
	bin        INTEGER NOT NULL,
	opened_at  TEXT NOT NULL,
	tare_mg    INTEGER NOT NULL,
	closed_at  TEXT,
	seal       TEXT,
	staff      TEXT,
	warned     INTEGER NOT NULL DEFAULT 0,
	full       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seals (
	number      TEXT PRIMARY KEY,
	bag_id      TEXT NOT NULL,
	sealed_at   TEXT NOT NULL,
	staff       TEXT,
	replaced_by TEXT
);
CREATE TABLE IF NOT EXISTS faults (
	id         INTEGER PRIMARY KEY,
	kind       TEXT NOT NULL,
	raised_at  TEXT NOT NULL,
	cleared_at TEXT,
	cleared_by TEXT
);
CREATE TABLE IF NOT EXISTS catalog_products (
	ean  TEXT PRIMARY KEY,
	body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS calibrations (
	n              INTEGER PRIMARY KEY,
	cell           TEXT NOT NULL,
	offset_counts  INTEGER NOT NULL,
	counts_per_kg  INTEGER NOT NULL,
	resolution_mg  INTEGER NOT NULL,
	at             TEXT NOT NULL,
	by             TEXT NOT NULL,
	note           TEXT
);
