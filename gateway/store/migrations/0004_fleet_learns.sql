-- What the fleet learns (issue 13): each machine's running totals by signal
-- (containers by rejection cause, transactions, blocked transactions), its
-- credited containers and deposits by hour, and the history of its state.
CREATE TABLE IF NOT EXISTS machine_signals (
	machine TEXT NOT NULL,
	signal TEXT NOT NULL,
	n BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (machine, signal)
);
CREATE TABLE IF NOT EXISTS machine_hours (
	machine TEXT NOT NULL,
	hour TEXT NOT NULL,
	containers BIGINT NOT NULL DEFAULT 0,
	deposits BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (machine, hour)
);
CREATE TABLE IF NOT EXISTS machine_states (
	machine TEXT NOT NULL,
	at BIGINT NOT NULL,
	online INTEGER NOT NULL,
	state TEXT NOT NULL,
	fault TEXT NOT NULL,
	PRIMARY KEY (machine, at)
);
