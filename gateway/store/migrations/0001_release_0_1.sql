-- The gateway's store as release 0.1 made it (before versioned migrations).
-- Every statement is IF NOT EXISTS, so a store that release wrote is taken
-- over as version 1 unchanged. {{id}} and {{blob}} are the two types SQLite
-- and PostgreSQL spell differently.
CREATE TABLE IF NOT EXISTS events (
	id TEXT PRIMARY KEY,
	machine TEXT NOT NULL,
	rvm_id TEXT NOT NULL DEFAULT '',
	seq BIGINT NOT NULL,
	kind TEXT NOT NULL,
	ts TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	received_at BIGINT NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	first_attempt_at BIGINT NOT NULL DEFAULT 0,
	last_attempt_at BIGINT NOT NULL DEFAULT 0,
	delivered_at BIGINT NOT NULL DEFAULT 0,
	response TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	confirmed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_pending ON events(machine, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, received_at);
CREATE INDEX IF NOT EXISTS events_machine_seq ON events(machine, seq);
CREATE TABLE IF NOT EXISTS fwd (
	machine TEXT PRIMARY KEY,
	next_at BIGINT NOT NULL DEFAULT 0,
	fails INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	arrivals BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS machines (
	serial TEXT PRIMARY KEY,
	rvm_id TEXT NOT NULL DEFAULT '',
	online INTEGER NOT NULL DEFAULT 0,
	status TEXT NOT NULL DEFAULT '',
	status_at BIGINT NOT NULL DEFAULT 0,
	last_seen BIGINT NOT NULL DEFAULT 0,
	fault TEXT NOT NULL DEFAULT '',
	catalog_version BIGINT NOT NULL DEFAULT 0,
	vouchers_sent BIGINT NOT NULL DEFAULT 0,
	vouchers_used BIGINT NOT NULL DEFAULT 0,
	voucher_topup_at BIGINT NOT NULL DEFAULT 0,
	registration TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS machine_days (
	machine TEXT NOT NULL,
	day TEXT NOT NULL,
	containers BIGINT NOT NULL DEFAULT 0,
	deposits BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (machine, day)
);
CREATE TABLE IF NOT EXISTS quarantine (
	id {{id}},
	topic TEXT NOT NULL,
	payload {{blob}} NOT NULL,
	size BIGINT NOT NULL,
	reason TEXT NOT NULL,
	received_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
	event_id TEXT PRIMARY KEY,
	machine TEXT NOT NULL,
	kind TEXT NOT NULL,
	reason TEXT NOT NULL,
	http_status INTEGER NOT NULL DEFAULT 0,
	code TEXT NOT NULL DEFAULT '',
	message TEXT NOT NULL DEFAULT '',
	first_attempt_at BIGINT NOT NULL,
	last_attempt_at BIGINT NOT NULL,
	status TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS vouchers (
	code TEXT PRIMARY KEY,
	machine TEXT NOT NULL DEFAULT '',
	rvm_id TEXT NOT NULL DEFAULT '',
	transaction_id TEXT NOT NULL DEFAULT '',
	amount BIGINT NOT NULL DEFAULT 0,
	has_amount INTEGER NOT NULL DEFAULT 0,
	currency TEXT NOT NULL DEFAULT '',
	print_type INTEGER NOT NULL DEFAULT 0,
	issued_at BIGINT NOT NULL DEFAULT 0,
	valid_until BIGINT NOT NULL DEFAULT 0,
	status TEXT NOT NULL DEFAULT 'valid',
	redeem_type INTEGER NOT NULL DEFAULT 0,
	pos_id TEXT NOT NULL DEFAULT '',
	claimed_at BIGINT NOT NULL DEFAULT 0,
	redeemed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS vouchers_tx ON vouchers(transaction_id);
CREATE TABLE IF NOT EXISTS products (
	ean TEXT PRIMARY KEY,
	body TEXT NOT NULL,
	version BIGINT NOT NULL,
	removed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS kv (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL DEFAULT '',
	owner TEXT NOT NULL DEFAULT '',
	until BIGINT NOT NULL DEFAULT 0
);
