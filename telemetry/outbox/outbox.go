package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// DBTX is what the functions need of a *sql.DB, *sql.Conn or *sql.Tx.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Record is one event waiting to be handed on.
type Record struct {
	Seq   int64           // assigned by Append: 1, 2, 3, ... per machine
	ID    string          // unique per event; for a transaction, its id
	Kind  string          // "transaction", "voucher", "bag-fill-status", ...
	TS    time.Time       // when the fact happened, by the machine's clock
	RvmID string          // the machine's DRS id when the fact happened
	Body  json.RawMessage // the event body (for DRS-bound kinds, the DRS request body)
}

// Schema creates the outbox tables. It is idempotent.
const Schema = `
CREATE TABLE IF NOT EXISTS outbox (
	seq    INTEGER PRIMARY KEY,
	id     TEXT NOT NULL UNIQUE,
	kind   TEXT NOT NULL,
	ts     TEXT NOT NULL,
	rvm_id TEXT NOT NULL,
	body   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_counter (
	one   INTEGER PRIMARY KEY CHECK (one = 1),
	seq   INTEGER NOT NULL,
	rows  INTEGER NOT NULL,
	bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_counter (one, seq, rows, bytes) VALUES (1, 0, 0, 0);
CREATE TRIGGER IF NOT EXISTS outbox_added AFTER INSERT ON outbox BEGIN
	UPDATE outbox_counter SET seq = NEW.seq, rows = rows + 1, bytes = bytes + length(NEW.body) WHERE one = 1;
END;
CREATE TRIGGER IF NOT EXISTS outbox_gone AFTER DELETE ON outbox BEGIN
	UPDATE outbox_counter SET rows = rows - 1, bytes = bytes - length(OLD.body) WHERE one = 1;
END;
`

// Init creates the outbox tables if they are missing.
func Init(ctx context.Context, db DBTX) error {
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("outbox: create tables: %w", err)
	}
	return nil
}

// Append adds r to the outbox with the next sequence number and returns it
// (r.Seq is ignored). Call it inside the transaction that records the fact
// r reports.
func Append(ctx context.Context, tx DBTX, r Record) (int64, error) {
	// The publisher sends a compact body as it is: nothing that is not
	// JSON may enter.
	if !json.Valid(r.Body) {
		return 0, fmt.Errorf("outbox: append %s %s: body is not JSON", r.Kind, r.ID)
	}
	// One statement: the seq comes from the counter row (never from
	// max(seq), which falls when records are acked) and a trigger moves the
	// counter on. seq is the rowid, so the insert reports it.
	res, err := tx.ExecContext(ctx,
		`INSERT INTO outbox (seq, id, kind, ts, rvm_id, body)
		 VALUES ((SELECT seq + 1 FROM outbox_counter WHERE one = 1), ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, r.TS.UTC().Format(time.RFC3339Nano), r.RvmID, []byte(r.Body))
	if err != nil {
		return 0, fmt.Errorf("outbox: append %s %s: %w", r.Kind, r.ID, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("outbox: append %s %s: %w", r.Kind, r.ID, err)
	}
	return seq, nil
}

// Pending returns up to limit records with seq > after, in sequence order.
func Pending(ctx context.Context, db DBTX, after int64, limit int) ([]Record, error) {
	rows, err := db.QueryContext(ctx,
		`SELECT seq, id, kind, ts, rvm_id, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: pending: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var ts string
		var body []byte
		if err := rows.Scan(&r.Seq, &r.ID, &r.Kind, &ts, &r.RvmID, &body); err != nil {
			return nil, fmt.Errorf("outbox: pending: %w", err)
		}
		r.TS, err = time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("outbox: record %d: bad ts %q: %w", r.Seq, ts, err)
		}
		r.Body = body
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: pending: %w", err)
	}
	return out, nil
}

// Ack removes the records with the given sequence numbers, once the broker
// has acknowledged them. Acking a record twice is harmless. A trigger keeps
// the counters that Depth reads in step, in the same statement.
//
// Acknowledgements mostly come in runs of consecutive seqs: each run is one
// range DELETE, so a drain costs a statement per run, not per record.
func Ack(ctx context.Context, db DBTX, seqs ...int64) error {
	sorted := slices.Clone(seqs)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] <= sorted[j]+1 {
			j++
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM outbox WHERE seq BETWEEN ? AND ?`, sorted[i], sorted[j]); err != nil {
			return fmt.Errorf("outbox: ack %d..%d: %w", sorted[i], sorted[j], err)
		}
		i = j + 1
	}
	return nil
}

// Depth reports how many records wait and how many body bytes they hold,
// in constant time.
func Depth(ctx context.Context, db DBTX) (rows, bytes int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT rows, bytes FROM outbox_counter WHERE one = 1`).Scan(&rows, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: depth: %w", err)
	}
	return rows, bytes, nil
}

// LastSeq returns the highest sequence number ever assigned (0 for none).
func LastSeq(ctx context.Context, db DBTX) (int64, error) {
	var seq int64
	if err := db.QueryRowContext(ctx, `SELECT seq FROM outbox_counter WHERE one = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("outbox: last seq: %w", err)
	}
	return seq, nil
}
