-- The technician console (internal/service): the technician PIN's salted
-- hash (one row), the audit log of every login, refusal, lockout and act,
-- and each calibration made on the console with its old and new factors
-- and the references it was made from.
-- +goose Up
CREATE TABLE IF NOT EXISTS technician_pin (
	one    INTEGER PRIMARY KEY CHECK (one = 1),
	hash   TEXT NOT NULL,
	set_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
	n       INTEGER PRIMARY KEY,
	at      TEXT NOT NULL,
	session TEXT NOT NULL,
	action  TEXT NOT NULL,
	ok      INTEGER NOT NULL,
	detail  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calibration_log (
	n             INTEGER PRIMARY KEY,
	cell          TEXT NOT NULL,
	at            TEXT NOT NULL,
	by            TEXT NOT NULL,
	old_offset    INTEGER NOT NULL,
	old_per_kg    INTEGER NOT NULL,
	new_offset    INTEGER NOT NULL,
	new_per_kg    INTEGER NOT NULL,
	resolution_mg INTEGER NOT NULL,
	refs          TEXT NOT NULL,
	linearity_ppm INTEGER NOT NULL
);
