-- Every event id is a UUID: the "container" event's id becomes a name-based
-- UUID of "<transactionId>-c<n>" (container_event_id, the SQL function the
-- ledger registers on each connection; see ContainerEventID). Rows already
-- in the outbox keep the id they were sent with.
-- +goose Up
DROP TRIGGER IF EXISTS container_event;
-- +goose StatementBegin
CREATE TRIGGER container_event AFTER INSERT ON containers BEGIN
	INSERT INTO outbox (seq, id, kind, ts, rvm_id, body) VALUES (
		(SELECT seq + 1 FROM outbox_counter WHERE one = 1),
		container_event_id(NEW.session_id, NEW.id), 'container', NEW.decided_at,
		(SELECT rvm_id FROM sessions WHERE id = NEW.session_id),
		json_object('transactionId', NEW.session_id, 'ean', NEW.ean, 'rejectionCauseCode', NEW.cause,
			'weightMg', NEW.weight_mg, 'depositGrosze', NEW.deposit));
END;
-- +goose StatementEnd
