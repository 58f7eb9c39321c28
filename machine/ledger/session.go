package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Session is an open customer session.
type Session struct {
	ID        string // the transaction id; drawn by the ledger at the first container
	RvmID     string
	BagID     string
	StartedAt time.Time
}

// Container is one container decided in a session.
type Container struct {
	ID        int64
	SessionID string
	BagID     string
	EAN       string // normalized code; the raw code for cause 5; "" when none was read
	Cause     int
	WeightMg  int64
	Deposit   money.Grosze // the catalogue deposit; owed only once Credited
	State     int          // InTransit, Credited or Rejected
	DecidedAt time.Time
}

// RecordContainer durably records a decided container: Rejected for a
// rejection, InTransit for an accepted one, noted for the session's next "containers" batch (see FlushContainers).
// When s.ID is empty this is the session's first container: the session is
// created and s.ID set. The container gets its id in c.ID.
//
// Credits confirmed by the bag are persisted when the session finishes
// (Finish.Confirm): until then an accepted container stays InTransit in the
// file, and a restart settles it against the bag scale.
func (l *Ledger) RecordContainer(ctx context.Context, s *Session, c *Container) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if s.ID == "" {
			id := w.newID()
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO sessions (id, rvm_id, bag_id, started_at) VALUES (?, ?, ?, ?)`,
				id, s.RvmID, s.BagID, ts(s.StartedAt)); err != nil {
				return fmt.Errorf("ledger: open session: %w", err)
			}
			s.ID = id
		}
		c.SessionID = s.ID
		res, err := tx.ExecContext(ctx,
			`INSERT INTO containers (session_id, bag_id, ean, cause, weight_mg, deposit, state, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.SessionID, c.BagID, c.EAN, c.Cause, c.WeightMg, int64(c.Deposit), c.State, ts(c.DecidedAt))
		if err != nil {
			return fmt.Errorf("ledger: record container: %w", err)
		}
		c.ID, _ = res.LastInsertId()
		// The container_unbatched trigger noted it for its batch.
		return nil
	})
}

// MarkRejected turns a recorded container into a rejection with the given
// cause (an accepted container that was pulled back: cause 1).
func (l *Ledger) MarkRejected(ctx context.Context, id int64, cause int) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		_, err := tx.ExecContext(ctx, `UPDATE containers SET state = ?, cause = ? WHERE id = ?`, Rejected, cause, id)
		if err != nil {
			return fmt.Errorf("ledger: reject container %d: %w", id, err)
		}
		return nil
	})
}

func markCredited(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 200)
		args := make([]any, 0, n+2)
		args = append(args, Credited, InTransit)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		q := `UPDATE containers SET state = ? WHERE state = ? AND id IN (?` + strings.Repeat(`, ?`, n-1) + `)`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("ledger: credit containers: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// Settle resolves in-transit containers after a restart: credit those the
// bag scale shows in the bag, delete those that never got there (they were
// handed back and appear in no record).
func (l *Ledger) Settle(ctx context.Context, credit, drop []int64) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if err := markCredited(ctx, tx, credit); err != nil {
			return err
		}
		for _, id := range drop {
			if _, err := tx.ExecContext(ctx, `DELETE FROM containers WHERE id = ? AND state = ?`, id, InTransit); err != nil {
				return fmt.Errorf("ledger: drop container %d: %w", id, err)
			}
		}
		// A session whose only containers were handed back never happened.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE ended_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM containers WHERE session_id = sessions.id)`); err != nil {
			return fmt.Errorf("ledger: drop empty session: %w", err)
		}
		return nil
	})
}

// Event is an outbox event the ledger writes as part of a larger fact.
type Event struct {
	Kind string
	Body any
}

// Voucher is a voucher issued at the end of a session.
type Voucher struct {
	ID         string
	Amount     money.Grosze
	PrintType  int
	IssuedAt   time.Time
	ValidUntil time.Time
	Source     string // "buffer" (operator-issued) or "local"
}

// Finish closes a session.
type Finish struct {
	SessionID string
	RvmID     string
	EndedAt   time.Time
	Payout    string // "voucher", "donation", "digital", "account"
	Phone     string
	Confirm   []int64      // in-transit containers confirmed since the last commit
	Amount    money.Grosze // credited deposit; no voucher when 0
	PrintType int          // for a locally generated voucher
	Validity  time.Duration
	Before    []Event // outbox events before the transaction (bag full)
	After     []Event // outbox events after the voucher (bag warning)
	BagWarned bool    // persist the bag's warning / full flags
	BagFull   bool
	// Build returns the transaction body given the voucher (nil when none).
	Build func(v *Voucher) drsapi.Transaction
}

// FinishSession closes the session in one durable transaction: it confirms
// the last credits, allocates the voucher (from the operator's buffer when
// one is loaded, else a locally generated EAN-13 code, unique), and appends
// the session's last container batch, the transaction, the voucher and the
// given events to the outbox.
func (l *Ledger) FinishSession(ctx context.Context, f Finish) (drsapi.Transaction, *Voucher, error) {
	var body drsapi.Transaction
	var voucher *Voucher
	err := l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		body, voucher = drsapi.Transaction{}, nil
		if err := markCredited(ctx, tx, f.Confirm); err != nil {
			return err
		}
		// The session's last containers go out before its transaction.
		if _, err := batchContainers(ctx, tx, w, f.SessionID); err != nil {
			return err
		}
		if f.Amount > 0 {
			v, err := l.allocateVoucher(ctx, tx, w, f)
			if err != nil {
				return err
			}
			voucher = v
		}
		body = f.Build(voucher)
		for _, e := range f.Before {
			if err := appendEvent(ctx, tx, w, e, f); err != nil {
				return err
			}
		}
		r, err := record(w, envelope.KindTransaction, f.EndedAt, f.RvmID, body)
		if err != nil {
			return err
		}
		r.ID = f.SessionID
		if err := w.append(ctx, tx, r); err != nil {
			return err
		}
		if voucher != nil && f.Payout != "donation" {
			ve := envelope.Voucher{
				ID: voucher.ID, TransactionID: f.SessionID, Currency: "PLN",
				PrintType: voucher.PrintType, IssuedAt: drsTime(voucher.IssuedAt),
				ValidUntil: drsTime(voucher.ValidUntil),
			}
			switch f.Payout {
			case "digital":
				ve.Phone = f.Phone
			case "account":
				ve.Phone, ve.Payout = f.Phone, f.Payout
			}
			ve.Amount, _ = voucher.Amount.MarshalJSON()
			if err := appendEvent(ctx, tx, w, Event{envelope.KindVoucher, ve}, f); err != nil {
				return err
			}
		}
		for _, e := range f.After {
			if err := appendEvent(ctx, tx, w, e, f); err != nil {
				return err
			}
		}
		vid := ""
		if voucher != nil {
			vid = voucher.ID
			if f.Payout == "voucher" {
				if _, err := tx.ExecContext(ctx, `INSERT INTO voucher_prints (voucher_id, due_at) VALUES (?, ?)`,
					vid, ts(f.EndedAt)); err != nil {
					return fmt.Errorf("ledger: voucher print due: %w", err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE sessions SET ended_at = ?, payout = ?, phone = ?, voucher_id = ?, amount = ?, body = ? WHERE id = ?`,
			ts(f.EndedAt), f.Payout, f.Phone, vid, int64(f.Amount), mustJSON(body), f.SessionID); err != nil {
			return fmt.Errorf("ledger: close session: %w", err)
		}
		if f.BagWarned || f.BagFull {
			if _, err := tx.ExecContext(ctx,
				`UPDATE bags SET warned = warned OR ?, full = full OR ? WHERE closed_at IS NULL`, f.BagWarned, f.BagFull); err != nil {
				return fmt.Errorf("ledger: bag flags: %w", err)
			}
		}
		return setMeta(ctx, tx, "last_transaction_at", ts(f.EndedAt))
	})
	if err != nil {
		return drsapi.Transaction{}, nil, err
	}
	return body, voucher, nil
}

func appendEvent(ctx context.Context, tx *sql.Tx, w *writer, e Event, f Finish) error {
	r, err := record(w, e.Kind, f.EndedAt, f.RvmID, e.Body)
	if err != nil {
		return err
	}
	return w.append(ctx, tx, r)
}

func (l *Ledger) allocateVoucher(ctx context.Context, tx *sql.Tx, w *writer, f Finish) (*Voucher, error) {
	v := &Voucher{Amount: f.Amount, IssuedAt: f.EndedAt, ValidUntil: f.EndedAt.Add(f.Validity)}
	var n int64
	var validUntil sql.NullString
	err := tx.QueryRowContext(ctx,
		`SELECT n, id, print_type, valid_until FROM voucher_buffer
		 WHERE used = 0 AND (valid_until IS NULL OR valid_until = '' OR valid_until > ?) ORDER BY n LIMIT 1`,
		ts(f.EndedAt)).Scan(&n, &v.ID, &v.PrintType, &validUntil)
	switch {
	case err == nil:
		v.Source = "buffer"
		if validUntil.Valid && validUntil.String != "" {
			if t := parseTS(validUntil.String); !t.IsZero() && t.Before(v.ValidUntil) {
				v.ValidUntil = t
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE voucher_buffer SET used = 1 WHERE n = ?`, n); err != nil {
			return nil, fmt.Errorf("ledger: take buffered voucher: %w", err)
		}
	case err == sql.ErrNoRows:
		v.Source, v.PrintType = "local", f.PrintType
		for {
			v.ID = localCode(w.digits(10))
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM vouchers WHERE id = ?`, v.ID).Scan(&one)
			if err == sql.ErrNoRows {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("ledger: voucher code: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("ledger: voucher buffer: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO vouchers (id, transaction_id, amount, print_type, issued_at, valid_until, source, phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, f.SessionID, int64(v.Amount), v.PrintType, ts(v.IssuedAt), ts(v.ValidUntil), v.Source, f.Phone); err != nil {
		return nil, fmt.Errorf("ledger: issue voucher: %w", err)
	}
	return v, nil
}

// localCode makes an EAN-13 in the in-store range 29 from ten digits.
func localCode(ten string) string {
	p := "29" + ten
	sum := 0
	for i := len(p) - 1; i >= 0; i-- {
		d := int(p[i] - '0')
		if (len(p)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return p + string(rune('0'+(10-sum%10)%10))
}

// DRSTime formats a time as the operator's date-time (RFC 3339, UTC, seconds).
func DRSTime(t time.Time) string { return drsTime(t) }

func drsTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// AddVouchers loads operator-issued voucher codes into the buffer; codes
// already known are ignored. It returns how many were new.
func (l *Ledger) AddVouchers(ctx context.Context, vs []envelope.BufferedVoucher) (int, error) {
	added := 0
	err := l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		added = 0
		for _, v := range vs {
			var exists int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM vouchers WHERE id = ?`, v.ID).Scan(&exists)
			if err == nil {
				continue
			}
			res, err := tx.ExecContext(ctx,
				`INSERT OR IGNORE INTO voucher_buffer (id, print_type, issued_at, valid_until) VALUES (?, ?, ?, ?)`,
				v.ID, v.PrintType, v.IssuedAt, normTS(v.ValidUntil))
			if err != nil {
				return fmt.Errorf("ledger: buffer voucher %s: %w", v.ID, err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

func normTS(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return ts(t)
}

// BufferedVouchers counts unused operator-issued codes.
func (l *Ledger) BufferedVouchers(ctx context.Context) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM voucher_buffer WHERE used = 0`).Scan(&n)
	return n, err
}

// AppendEvent appends one event to the outbox on its own (a registration
// request, say), durably.
func (l *Ledger) AppendEvent(ctx context.Context, kind string, at time.Time, rvmID string, body any) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		r, err := record(w, kind, at, rvmID, body)
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
}
