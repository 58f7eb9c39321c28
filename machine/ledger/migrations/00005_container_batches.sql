-- Containers reach the fleet in batches (one "containers" event per session's
-- run of containers) instead of one "container" event each: the trigger that
-- wrote an outbox row per container gives way to one that notes the container
-- as not yet batched. The ledger writes a batch and deletes its notes in one
-- transaction (batchContainers), so a power cut leaves every container either
-- noted or in exactly one batch. Rows already in the outbox are sent as they are.
-- +goose Up
DROP TRIGGER IF EXISTS container_event;
CREATE TABLE IF NOT EXISTS unbatched (
	container_id INTEGER PRIMARY KEY,
	session_id   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unbatched_session ON unbatched(session_id);
-- +goose StatementBegin
CREATE TRIGGER container_unbatched AFTER INSERT ON containers BEGIN
	INSERT INTO unbatched (container_id, session_id) VALUES (NEW.id, NEW.session_id);
END;
-- +goose StatementEnd
-- A container settled as never in the bag is deleted with its note: SQLite
-- may give its id to the next container.
-- +goose StatementBegin
CREATE TRIGGER container_unnoted AFTER DELETE ON containers BEGIN
	DELETE FROM unbatched WHERE container_id = OLD.id;
END;
-- +goose StatementEnd
