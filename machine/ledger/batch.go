package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// batchNS is the namespace of the container batches' name-based ids.
var batchNS = uuid.MustParse("9d3c1a52-6f0e-4b7d-8a2c-5e4f1b6d7c30")

// ContainerBatchID is the event id of the "containers" batch of session
// sessionID that starts with container number first: the UUID version 5 of
// "<sessionID>-b<first>" in the ledger's batch namespace
// (9d3c1a52-6f0e-4b7d-8a2c-5e4f1b6d7c30). A container belongs to exactly
// one batch, so no two batches share an id.
func ContainerBatchID(sessionID string, first int64) string {
	return uuid.NewSHA1(batchNS, []byte(sessionID+"-b"+strconv.FormatInt(first, 10))).String()
}

// Unbatched returns how many containers of session sessionID wait for
// their batch.
func (l *Ledger) Unbatched(ctx context.Context, sessionID string) (int, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM unbatched WHERE session_id = ?`, sessionID).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: unbatched containers: %w", err)
	}
	return n, nil
}

// FlushContainers writes the "containers" batch of the containers of
// session sessionID that wait for one, durably; it reports whether there
// were any. The controller calls it when the run reaches its size or age;
// FinishSession writes the last batch itself.
func (l *Ledger) FlushContainers(ctx context.Context, sessionID string) (bool, error) {
	var wrote bool
	err := l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		var err error
		wrote, err = batchContainers(ctx, tx, w, sessionID)
		return err
	})
	return wrote, err
}

// batchContainers appends the batch of session sessionID's unbatched
// containers to the outbox, in the transaction that forgets their notes.
// A note whose container is gone (settled as never in the bag) is dropped.
func batchContainers(ctx context.Context, tx *sql.Tx, w *writer, sessionID string) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.bag_id, c.ean, c.cause, c.weight_mg, c.deposit, c.decided_at, s.rvm_id
		FROM unbatched u JOIN containers c ON c.id = u.container_id JOIN sessions s ON s.id = c.session_id
		WHERE u.session_id = ? ORDER BY c.id`, sessionID)
	if err != nil {
		return false, fmt.Errorf("ledger: batch containers: %w", err)
	}
	b := envelope.ContainerBatch{TransactionID: sessionID}
	var first int64
	var last, rvmID string
	for rows.Next() {
		var id int64
		var c envelope.BatchContainer
		if err := rows.Scan(&id, &b.BagID, &c.EAN, &c.RejectionCauseCode, &c.WeightMg, &c.DepositGrosze, &c.DecidedAt, &rvmID); err != nil {
			rows.Close()
			return false, fmt.Errorf("ledger: batch containers: %w", err)
		}
		if first == 0 {
			first = id
		}
		last = c.DecidedAt
		b.Containers = append(b.Containers, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("ledger: batch containers: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM unbatched WHERE session_id = ?`, sessionID); err != nil {
		return false, fmt.Errorf("ledger: batch containers: %w", err)
	}
	if len(b.Containers) == 0 {
		return false, nil
	}
	// The id is derived, not drawn: drawing would move the id sequence
	// that vouchers and transactions take theirs from.
	body, err := json.Marshal(b)
	if err != nil {
		return false, fmt.Errorf("ledger: encode containers: %w", err)
	}
	r := outbox.Record{ID: ContainerBatchID(sessionID, first), Kind: envelope.KindContainers, TS: parseTS(last), RvmID: rvmID, Body: body}
	return true, w.append(ctx, tx, r)
}

// UnbatchedSince lists the sessions with containers waiting for their
// batch, with the oldest one's decision time.
func (l *Ledger) UnbatchedSince(ctx context.Context) (map[string]time.Time, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT u.session_id, min(c.decided_at) FROM unbatched u
		JOIN containers c ON c.id = u.container_id GROUP BY u.session_id`)
	if err != nil {
		return nil, fmt.Errorf("ledger: unbatched sessions: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id, at string
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("ledger: unbatched sessions: %w", err)
		}
		out[id] = parseTS(at)
	}
	return out, rows.Err()
}
