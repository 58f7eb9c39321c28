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
//
// outbox_counter holds the last seq handed out and the rows and body bytes
// in the table; outbox_acked the sent mark (every seq up to upto reached the
// broker) with the rows and bytes still in the table under it;
// outbox_confirmed the confirmed mark (every seq up to upto is confirmed by
// the gateway, or gone), the highest seq ever confirmed (top) and the rows
// in the table that are confirmed; outbox_confirm_ranges the confirmed runs
// above that mark, disjoint and not touching.
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
CREATE TABLE IF NOT EXISTS outbox_acked (
	one   INTEGER PRIMARY KEY CHECK (one = 1),
	upto  INTEGER NOT NULL,
	rows  INTEGER NOT NULL,
	bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_acked (one, upto, rows, bytes) VALUES (1, 0, 0, 0);
CREATE TABLE IF NOT EXISTS outbox_confirmed (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	upto INTEGER NOT NULL,
	top  INTEGER NOT NULL,
	rows INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_confirmed (one, upto, top, rows) VALUES (1, 0, 0, 0);
CREATE TABLE IF NOT EXISTS outbox_confirm_ranges (
	lo INTEGER PRIMARY KEY,
	hi INTEGER NOT NULL
);
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
		`SELECT seq, id, kind, ts, rvm_id, body FROM outbox
		 WHERE seq > max(?, (SELECT upto FROM outbox_acked WHERE one = 1)) ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: pending: %w", err)
	}
	return scanRecords(rows, "pending")
}

// scanRecords reads and closes rows of seq, id, kind, ts, rvm_id, body.
func scanRecords(rows *sql.Rows, what string) ([]Record, error) {
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var ts string
		var body []byte
		if err := rows.Scan(&r.Seq, &r.ID, &r.Kind, &ts, &r.RvmID, &body); err != nil {
			return nil, fmt.Errorf("outbox: %s: %w", what, err)
		}
		var err error
		r.TS, err = time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("outbox: record %d: bad ts %q: %w", r.Seq, ts, err)
		}
		r.Body = body
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: %s: %w", what, err)
	}
	return out, nil
}

// Ack marks the records with the given sequence numbers delivered, once
// the broker has acknowledged them; they are no longer Pending nor counted
// by Depth. Acking a record twice is harmless.
//
// Acknowledgements come in runs of consecutive seqs from the oldest
// pending record on (the publisher sends in seq order and completes in send
// order). Such a run only moves the sent mark (outbox_acked.upto): deleting
// a row is the costliest part of a drain, and [Sweep] does it later, in
// bulk, when the drain is idle and once the record is confirmed too. A run
// after a gap (records still pending before it) is not recorded: those
// records stay pending and go out again, and consumers de-duplicate.
func Ack(ctx context.Context, db DBTX, seqs ...int64) error {
	sorted := slices.Clone(seqs)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] <= sorted[j]+1 {
			j++
		}
		if err := ackRun(ctx, db, sorted[i], sorted[j]); err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

// ackRun acknowledges the records a..b by the mark when nothing pending
// lies between the mark and a, and else not at all.
func ackRun(ctx context.Context, db DBTX, a, b int64) error {
	var upto, gap int64
	if err := db.QueryRowContext(ctx, `SELECT upto, (SELECT count(*) FROM outbox WHERE seq > upto AND seq < ?)
		FROM outbox_acked WHERE one = 1`, a).Scan(&upto, &gap); err != nil {
		return fmt.Errorf("outbox: ack %d..%d: %w", a, b, err)
	}
	if b <= upto {
		return nil
	}
	if gap > 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, `UPDATE outbox_acked SET upto = ?,
		rows = rows + (SELECT count(*) FROM outbox WHERE seq > outbox_acked.upto AND seq <= ?),
		bytes = bytes + (SELECT COALESCE(sum(length(body)), 0) FROM outbox WHERE seq > outbox_acked.upto AND seq <= ?)
		WHERE one = 1`, b, b, b); err != nil {
		return fmt.Errorf("outbox: ack %d..%d: %w", a, b, err)
	}
	return nil
}

// Sweep deletes up to limit records that are both sent (under the sent
// mark, see [Ack]) and confirmed (see [Confirm]), oldest first, and reports
// how many it deleted. Small steps keep the one writer connection free for
// the ledger in between. It reads only index ranges: those under both
// marks, then those of the confirmed runs above the confirmed mark.
func Sweep(ctx context.Context, db DBTX, limit int) (int64, error) {
	var sent, conf int64
	if err := db.QueryRowContext(ctx, `SELECT a.upto, c.upto FROM outbox_acked a, outbox_confirmed c
		WHERE a.one = 1 AND c.one = 1`).Scan(&sent, &conf); err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	spans := []Range{{From: 1, To: min(sent, conf)}}
	if conf < sent {
		runs, err := confirmRuns(ctx, db, conf+1, sent)
		if err != nil {
			return 0, fmt.Errorf("outbox: sweep: %w", err)
		}
		for _, r := range runs {
			spans = append(spans, Range{From: r.From, To: min(r.To, sent)})
		}
	}
	var n, bytes int64
	for _, sp := range spans {
		if n >= int64(limit) {
			break
		}
		if sp.From > sp.To {
			continue
		}
		dn, dbytes, err := deleteSpan(ctx, db, sp, int64(limit)-n)
		if err != nil {
			return 0, fmt.Errorf("outbox: sweep: %w", err)
		}
		n, bytes = n+dn, bytes+dbytes
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := db.ExecContext(ctx, `UPDATE outbox_acked SET rows = rows - ?, bytes = bytes - ? WHERE one = 1`, n, bytes); err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE outbox_confirmed SET rows = rows - ? WHERE one = 1`, n); err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	return n, nil
}

// deleteSpan deletes the oldest limit rows of sp and reports how many rows
// and body bytes went.
func deleteSpan(ctx context.Context, db DBTX, sp Range, limit int64) (n, bytes int64, err error) {
	var lo, hi int64
	err = db.QueryRowContext(ctx, `SELECT COALESCE(min(seq), 0), COALESCE(max(seq), 0), count(*), COALESCE(sum(length(body)), 0) FROM
		(SELECT seq, body FROM outbox WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?)`, sp.From, sp.To, limit).Scan(&lo, &hi, &n, &bytes)
	if err != nil || n == 0 {
		return 0, 0, err
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM outbox WHERE seq BETWEEN ? AND ?`, lo, hi); err != nil {
		return 0, 0, err
	}
	return n, bytes, nil
}

// Depth reports how many records wait and how many body bytes they hold,
// in constant time.
func Depth(ctx context.Context, db DBTX) (rows, bytes int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT c.rows - a.rows, c.bytes - a.bytes FROM outbox_counter c, outbox_acked a
		WHERE c.one = 1 AND a.one = 1`).Scan(&rows, &bytes)
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

// Stored reports how many records the outbox table holds and their body
// bytes, in constant time: every record not yet deleted, whether it waits
// for the broker, for the gateway's confirmation, or for [Sweep].
func Stored(ctx context.Context, db DBTX) (rows, bytes int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT rows, bytes FROM outbox_counter WHERE one = 1`).Scan(&rows, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: stored: %w", err)
	}
	return rows, bytes, nil
}
