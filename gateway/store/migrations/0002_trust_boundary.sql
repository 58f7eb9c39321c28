-- The trust boundary: each serial's rvmId, the voucher codes handed to each
-- machine, and the operator's answers on confirmation (blocked).
CREATE TABLE IF NOT EXISTS bindings (
	serial TEXT PRIMARY KEY,
	rvm_id TEXT NOT NULL UNIQUE,
	source TEXT NOT NULL,
	bound_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS voucher_buffer (
	code TEXT PRIMARY KEY,
	machine TEXT NOT NULL,
	handed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tx_confirmations (
	transaction_id TEXT PRIMARY KEY,
	blocked INTEGER NOT NULL DEFAULT 0,
	amount BIGINT NOT NULL DEFAULT 0,
	currency TEXT NOT NULL DEFAULT '',
	confirmed_at BIGINT NOT NULL
);
