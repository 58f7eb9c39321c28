-- The till side: tills and their hashed tokens, payouts in two phases,
-- digital vouchers and their notifications, deposit accounts and their
-- entries, idempotent replies, the audit trail, and the manual collection
-- points (stations) with the returns they take.
CREATE TABLE IF NOT EXISTS tills (
	name TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS payouts (
	id TEXT PRIMARY KEY,
	code TEXT NOT NULL DEFAULT '',
	account TEXT NOT NULL DEFAULT '',
	amount BIGINT NOT NULL,
	till TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	rvm_id TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS payouts_status ON payouts(status, created_at);
CREATE INDEX IF NOT EXISTS payouts_account ON payouts(account, status);
CREATE TABLE IF NOT EXISTS digital_vouchers (
	code TEXT PRIMARY KEY,
	phone TEXT NOT NULL,
	payout TEXT NOT NULL,
	state TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS digital_vouchers_state ON digital_vouchers(state);
CREATE TABLE IF NOT EXISTS notifications (
	code TEXT PRIMARY KEY,
	phone TEXT NOT NULL,
	kind TEXT NOT NULL DEFAULT 'sms',
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at BIGINT NOT NULL DEFAULT 0,
	lease_until BIGINT NOT NULL DEFAULT 0,
	sent_at BIGINT NOT NULL DEFAULT 0,
	sends INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(state, next_at);
CREATE TABLE IF NOT EXISTS accounts (
	id TEXT PRIMARY KEY,
	phone TEXT UNIQUE,
	consent_at BIGINT NOT NULL,
	erased_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS account_entries (
	id {{id}},
	account TEXT NOT NULL,
	kind TEXT NOT NULL,
	amount BIGINT NOT NULL,
	transaction_id TEXT NOT NULL DEFAULT '',
	payout_id TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS account_entries_account ON account_entries(account, id);
CREATE TABLE IF NOT EXISTS idempotency (
	key TEXT PRIMARY KEY,
	status INTEGER NOT NULL DEFAULT 0,
	body TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
	id {{id}},
	at BIGINT NOT NULL,
	who TEXT NOT NULL,
	till TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	subject TEXT NOT NULL,
	amount BIGINT NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS stations (
	name TEXT PRIMARY KEY,
	store TEXT NOT NULL,
	rvm_id TEXT NOT NULL,
	registered INTEGER NOT NULL DEFAULT 0,
	seq BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);
