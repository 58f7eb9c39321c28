package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deposit-rvm/rvm/internal/seqrange"
)

// Range is an inclusive run of sequence numbers, From..To.
type Range = seqrange.Range

// MergeRanges returns rs sorted, with overlapping and adjacent ranges
// merged and empty ones (To < From) dropped (see [seqrange.Merge]).
func MergeRanges(rs []Range) []Range { return seqrange.Merge(rs) }

// Confirmation is what the outbox knows of the gateway's confirmations.
type Confirmation struct {
	// Upto: every record up to this seq is confirmed (or gone).
	Upto int64
	// Top is the highest seq the gateway ever confirmed. A record below it
	// that is still unconfirmed is one the gateway evidently missed.
	Top int64
	// Unconfirmed counts the records in the outbox not confirmed yet.
	Unconfirmed int64
}

// Confirmations reads the confirmation state in constant time.
func Confirmations(ctx context.Context, db DBTX) (Confirmation, error) {
	var c Confirmation
	err := db.QueryRowContext(ctx, `SELECT c.upto, c.top, o.rows - c.rows FROM outbox_confirmed c, outbox_counter o
		WHERE c.one = 1 AND o.one = 1`).Scan(&c.Upto, &c.Top, &c.Unconfirmed)
	if err != nil {
		return Confirmation{}, fmt.Errorf("outbox: confirmations: %w", err)
	}
	return c, nil
}

// Confirm records that the gateway has committed the records in ranges
// (inclusive, in any order, overlapping or not, repeated or not). A
// confirmed record is deleted by [Sweep] once it is also sent ([Ack]).
// Seqs never handed out are ignored.
//
// It costs a few statements per range, whatever its length: a range that
// continues the confirmed mark moves the mark (outbox_confirmed.upto);
// one after a gap is kept as a run (outbox_confirm_ranges), merged with
// the runs it touches, until the gap is confirmed too. The mark also
// passes runs whose gap holds no record any more.
func Confirm(ctx context.Context, db DBTX, ranges []Range) error {
	rs := MergeRanges(ranges)
	if len(rs) == 0 {
		return nil
	}
	var upto, top, last int64
	if err := db.QueryRowContext(ctx, `SELECT c.upto, c.top, o.seq FROM outbox_confirmed c, outbox_counter o
		WHERE c.one = 1 AND o.one = 1`).Scan(&upto, &top, &last); err != nil {
		return fmt.Errorf("outbox: confirm: %w", err)
	}
	var added int64 // rows confirmed now that were not before
	for _, r := range rs {
		r.From, r.To = max(r.From, upto+1, 1), min(r.To, last)
		if r.From > r.To {
			continue
		}
		top = max(top, r.To)
		old, err := confirmRuns(ctx, db, r.From-1, r.To+1)
		if err != nil {
			return fmt.Errorf("outbox: confirm: %w", err)
		}
		merged, next := r, r.From // next: the first seq of r not yet counted
		for _, o := range old {
			if o.From > next {
				n, err := countRows(ctx, db, next, min(o.From-1, r.To))
				if err != nil {
					return fmt.Errorf("outbox: confirm: %w", err)
				}
				added += n
			}
			next = max(next, o.To+1)
			merged.From, merged.To = min(merged.From, o.From), max(merged.To, o.To)
		}
		if next <= r.To {
			n, err := countRows(ctx, db, next, r.To)
			if err != nil {
				return fmt.Errorf("outbox: confirm: %w", err)
			}
			added += n
		}
		if len(old) > 0 {
			if _, err := db.ExecContext(ctx, `DELETE FROM outbox_confirm_ranges WHERE lo BETWEEN ? AND ?`, merged.From, merged.To); err != nil {
				return fmt.Errorf("outbox: confirm: %w", err)
			}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO outbox_confirm_ranges (lo, hi) VALUES (?, ?)`, merged.From, merged.To); err != nil {
			return fmt.Errorf("outbox: confirm: %w", err)
		}
	}
	// The mark takes in the oldest run while it starts right after the
	// mark or only gone records lie between.
	for {
		var lo, hi int64
		err := db.QueryRowContext(ctx, `SELECT lo, hi FROM outbox_confirm_ranges ORDER BY lo LIMIT 1`).Scan(&lo, &hi)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return fmt.Errorf("outbox: confirm: %w", err)
		}
		if lo > upto+1 {
			if n, err := countRows(ctx, db, upto+1, lo-1); err != nil || n > 0 {
				if err != nil {
					return fmt.Errorf("outbox: confirm: %w", err)
				}
				break
			}
		}
		upto = max(upto, hi)
		if _, err := db.ExecContext(ctx, `DELETE FROM outbox_confirm_ranges WHERE lo = ?`, lo); err != nil {
			return fmt.Errorf("outbox: confirm: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE outbox_confirmed SET upto = ?, top = ?, rows = rows + ? WHERE one = 1`, upto, top, added); err != nil {
		return fmt.Errorf("outbox: confirm: %w", err)
	}
	return nil
}

// ConfirmSent confirms every record the broker has acknowledged (up to the
// sent mark, see [Ack]): for a machine whose gateway does not confirm, the
// broker's PUBACK is enough.
func ConfirmSent(ctx context.Context, db DBTX) error {
	var sent int64
	if err := db.QueryRowContext(ctx, `SELECT upto FROM outbox_acked WHERE one = 1`).Scan(&sent); err != nil {
		return fmt.Errorf("outbox: confirm sent: %w", err)
	}
	if sent == 0 {
		return nil
	}
	return Confirm(ctx, db, []Range{{From: 1, To: sent}})
}

// Unconfirmed returns up to limit records with after < seq < below that
// were sent (up to the sent mark, see [Ack]) and are not confirmed, in
// sequence order: the records to send again when the gateway confirmed
// later ones.
func Unconfirmed(ctx context.Context, db DBTX, after, below int64, limit int) ([]Record, error) {
	rows, err := db.QueryContext(ctx,
		`SELECT seq, id, kind, ts, rvm_id, body FROM outbox
		 WHERE seq > max(?, (SELECT upto FROM outbox_confirmed WHERE one = 1)) AND seq < ?
		   AND seq <= (SELECT upto FROM outbox_acked WHERE one = 1)
		   AND COALESCE((SELECT hi FROM outbox_confirm_ranges r WHERE r.lo <= outbox.seq ORDER BY r.lo DESC LIMIT 1), 0) < seq
		 ORDER BY seq LIMIT ?`, after, below, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: unconfirmed: %w", err)
	}
	return scanRecords(rows, "unconfirmed")
}

// confirmRuns returns the confirmed runs above the mark that overlap
// from..to, in order.
func confirmRuns(ctx context.Context, db DBTX, from, to int64) ([]Range, error) {
	rows, err := db.QueryContext(ctx, `SELECT lo, hi FROM outbox_confirm_ranges WHERE lo <= ? AND hi >= ? ORDER BY lo`, to, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Range
	for rows.Next() {
		var r Range
		if err := rows.Scan(&r.From, &r.To); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// countRows counts the records with from <= seq <= to.
func countRows(ctx context.Context, db DBTX, from, to int64) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE seq BETWEEN ? AND ?`, from, to).Scan(&n)
	return n, err
}
