-- A voucher the customer takes on paper is due here when it is issued and
-- printed_at is set once the printer confirmed the whole ticket, so a
-- voucher the printer failed is reprinted, never issued again. Vouchers
-- issued before this version have no row and are never reprinted.
-- +goose Up
CREATE TABLE IF NOT EXISTS voucher_prints (
	voucher_id TEXT PRIMARY KEY REFERENCES vouchers(id),
	due_at     TEXT NOT NULL,
	printed_at TEXT,
	attempts   INTEGER NOT NULL DEFAULT 0
);
