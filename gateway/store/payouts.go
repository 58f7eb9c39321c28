package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// Errors of the till side.
var (
	// ErrNotActive: the voucher cannot be paid out now (pending, reserved,
	// redeemed, credited to an account).
	ErrNotActive = errors.New("store: voucher not active")
	// ErrConflict: the payout, account or till is in a state that refuses
	// the act (a confirmed payout cancelled, a name taken...).
	ErrConflict = errors.New("store: conflict")
	// ErrInsufficient: the balance, or what a credit has left, is smaller
	// than the amount asked.
	ErrInsufficient = errors.New("store: insufficient funds")
)

// Payout statuses.
const (
	PayoutReserved   = "reserved"   // money set aside for a till; nothing paid yet
	PayoutConfirming = "confirming" // the till confirmed; the operator is being told
	PayoutConfirmed  = "confirmed"  // paid out
	PayoutCancelled  = "cancelled"  // given back
)

// VoucherReserved is the status of a voucher a till has reserved.
const VoucherReserved = "reserved"

// staleConfirm is how long a confirmation may stay with the operator
// before another request may take it over (the gateway that began it died;
// the operator's own once-only rule settles whether it went through).
const staleConfirm = 30 * time.Second

// legacyClaim is how long a voucher claimed by a gateway before two-phase
// payouts stays untouchable.
const legacyClaim = 2 * time.Minute

// Actor is who did a money operation, for the audit trail.
type Actor struct {
	Who  string // "staff" or "till"
	Till string // the till's name, when a till
}

// Payout is one payout at a till: of a voucher (Code) or from a deposit
// account (Account, the account's id).
type Payout struct {
	ID        string
	Code      string
	Account   string
	Amount    money.Grosze
	Till      string
	Status    string
	RvmID     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const payoutCols = `id, code, account, amount, till, status, rvm_id, created_at, updated_at`

func scanPayout(sc interface{ Scan(...any) error }) (Payout, error) {
	var p Payout
	var amount, created, updated int64
	err := sc.Scan(&p.ID, &p.Code, &p.Account, &amount, &p.Till, &p.Status, &p.RvmID, &created, &updated)
	p.Amount, p.CreatedAt, p.UpdatedAt = money.Grosze(amount), fromMS(created), fromMS(updated)
	return p, err
}

// forUpdate locks the rows a SELECT reads on PostgreSQL; SQLite's one
// writer (_txlock=immediate) serialises the transaction already.
func (s *Store) forUpdate() string {
	if s.pg {
		return " FOR UPDATE"
	}
	return ""
}

func (s *Store) audit(ctx context.Context, tx *sql.Tx, a Actor, at time.Time, action, subject string, amount money.Grosze, detail string) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit(at, who, till, action, subject, amount, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		ms(at), a.Who, a.Till, action, subject, int64(amount), detail); err != nil {
		return fmt.Errorf("store: audit %s: %w", action, err)
	}
	return nil
}

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	At      time.Time    `json:"at"`
	Who     string       `json:"who"`
	Till    string       `json:"till,omitempty"`
	Action  string       `json:"action"`
	Subject string       `json:"subject"`
	Amount  money.Grosze `json:"amount"`
	Detail  string       `json:"detail,omitempty"`
}

// Audit returns the newest limit entries of the audit trail, newest first.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT at, who, till, action, subject, amount, detail FROM audit ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at, amount int64
		if err := rows.Scan(&at, &e.Who, &e.Till, &e.Action, &e.Subject, &amount, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		e.At, e.Amount = fromMS(at), money.Grosze(amount)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReserveVoucher sets an active voucher aside for a till as payout id. Of
// two tills only one changes the voucher's row. It fails with
// [ErrNotFound], [ErrNotActive], [ErrExpired] or [ErrBlocked].
func (s *Store) ReserveVoucher(ctx context.Context, code, id string, a Actor, now time.Time) (Payout, error) {
	var p Payout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// A voucher an older gateway left "redeeming" (claimed, the
		// operator being told, then the gateway died) may be reserved
		// after legacyClaim: the operator's 409 at confirmation then says
		// it was paid, and this payout pays nothing.
		r, err := tx.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'reserved', pos_id = ?, claimed_at = ?
			WHERE code = ? AND (status = 'valid' OR (status = 'redeeming' AND claimed_at < ?)) AND (valid_until = 0 OR valid_until > ?)
			AND NOT EXISTS (SELECT 1 FROM digital_vouchers d WHERE d.code = vouchers.code AND d.state <> 'active')
			AND NOT EXISTS (SELECT 1 FROM tx_confirmations c WHERE c.transaction_id = vouchers.transaction_id
				AND vouchers.transaction_id <> '' AND c.blocked = 1)`),
			a.Till, ms(now), code, ms(now.Add(-legacyClaim)), ms(now))
		if err != nil {
			return fmt.Errorf("store: reserve voucher %s: %w", code, err)
		}
		v, err := scanVoucher(tx.QueryRowContext(ctx, s.q(`SELECT `+voucherCols+` FROM vouchers WHERE code = ?`), code))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: voucher %s", ErrNotFound, code)
		}
		if err != nil {
			return fmt.Errorf("store: voucher %s: %w", code, err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			var blocked int
			err := tx.QueryRowContext(ctx, s.q(`SELECT blocked FROM tx_confirmations WHERE transaction_id = ?`), v.TransactionID).Scan(&blocked)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: voucher %s: %w", code, err)
			}
			if blocked == 1 && v.TransactionID != "" {
				return fmt.Errorf("%w: voucher %s pays for transaction %s", ErrBlocked, code, v.TransactionID)
			}
			if v.Status == VoucherValid && !v.ValidUntil.IsZero() && !now.Before(v.ValidUntil) {
				return fmt.Errorf("%w: %s was valid until %s", ErrExpired, code, v.ValidUntil.Format(time.RFC3339))
			}
			return fmt.Errorf("%w: %s", ErrNotActive, code)
		}
		p = Payout{ID: id, Code: code, Amount: v.Amount, Till: a.Till, Status: PayoutReserved, RvmID: v.RvmID, CreatedAt: now, UpdatedAt: now}
		if err := s.insertPayout(ctx, tx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, now, "reserve", "voucher "+code, v.Amount, "payout "+id)
	})
	return p, err
}

func (s *Store) insertPayout(ctx context.Context, tx *sql.Tx, p Payout) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO payouts(`+payoutCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		p.ID, p.Code, p.Account, int64(p.Amount), p.Till, p.Status, p.RvmID, ms(p.CreatedAt), ms(p.UpdatedAt)); err != nil {
		return fmt.Errorf("store: payout %s: %w", p.ID, err)
	}
	return nil
}

// Payout returns one payout.
func (s *Store) Payout(ctx context.Context, id string) (Payout, error) {
	return s.payout(ctx, s.db, id, "")
}

// queryRower is a database or a transaction.
type queryRower interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// payout reads payout id through q, locking its row when lock says so.
func (s *Store) payout(ctx context.Context, q queryRower, id, lock string) (Payout, error) {
	p, err := scanPayout(q.QueryRowContext(ctx, s.q(`SELECT `+payoutCols+` FROM payouts WHERE id = ?`+lock), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Payout{}, fmt.Errorf("%w: payout %s", ErrNotFound, id)
	}
	if err != nil {
		return Payout{}, fmt.Errorf("store: payout %s: %w", id, err)
	}
	return p, nil
}

// column returns the one column the query selects, of every row.
func (s *Store) column(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Payouts lists the payouts in status (all when ""), oldest first, at most
// 500.
func (s *Store) Payouts(ctx context.Context, status string) ([]Payout, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT `+payoutCols+` FROM payouts WHERE ? = '' OR status = ? ORDER BY created_at, id LIMIT 500`), status, status)
	if err != nil {
		return nil, fmt.Errorf("store: payouts: %w", err)
	}
	defer rows.Close()
	out := []Payout{}
	for rows.Next() {
		p, err := scanPayout(rows)
		if err != nil {
			return nil, fmt.Errorf("store: payouts: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// BeginConfirm takes a reserved payout into confirmation and reports
// whether this call won it (false: it is confirmed, or another request is
// confirming it now) and whether it took over a confirmation left behind
// (the operator may have it already). A payout from an account needs no
// operator and is confirmed at once; a voucher's waits for
// [Store.FinishConfirm] once the operator redeemed it. A cancelled payout
// fails with [ErrConflict].
func (s *Store) BeginConfirm(ctx context.Context, id string, a Actor, now time.Time) (p Payout, won, retaken bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		won, retaken = false, false
		var err error
		if p, err = s.payout(ctx, tx, id, s.forUpdate()); err != nil {
			return err
		}
		prev := p.Status
		r, err := tx.ExecContext(ctx, s.q(`UPDATE payouts SET status = 'confirming', updated_at = ?
			WHERE id = ? AND (status = 'reserved' OR (status = 'confirming' AND updated_at < ?))`), ms(now), id, ms(now.Add(-staleConfirm)))
		if err != nil {
			return fmt.Errorf("store: confirm %s: %w", id, err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			if p.Status == PayoutCancelled {
				return fmt.Errorf("%w: payout %s is cancelled", ErrConflict, id)
			}
			return nil
		}
		won, retaken = true, prev == PayoutConfirming
		p.Status, p.UpdatedAt = PayoutConfirming, now
		if err := s.audit(ctx, tx, a, now, "confirm", payoutSubject(p), p.Amount, "payout "+id); err != nil {
			return err
		}
		if p.Account == "" {
			return nil
		}
		// Money from an account: the entry is the payout.
		if err := s.finishConfirm(ctx, tx, p, 0, now); err != nil {
			return err
		}
		p.Status = PayoutConfirmed
		return nil
	})
	return p, won, retaken, err
}

func payoutSubject(p Payout) string {
	if p.Account != "" {
		return "account " + p.Account
	}
	return "voucher " + p.Code
}

// FinishConfirm marks a confirming voucher payout confirmed and its voucher
// redeemed with redeemType: the operator has it.
func (s *Store) FinishConfirm(ctx context.Context, p Payout, redeemType int, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.finishConfirm(ctx, tx, p, redeemType, now) })
}

func (s *Store) finishConfirm(ctx context.Context, tx *sql.Tx, p Payout, redeemType int, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE payouts SET status = 'confirmed', updated_at = ? WHERE id = ? AND status = 'confirming'`), ms(now), p.ID); err != nil {
		return fmt.Errorf("store: confirm %s: %w", p.ID, err)
	}
	if p.Account != "" {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO account_entries(account, kind, amount, payout_id, at) VALUES (?, 'payout', ?, ?, ?)`),
			p.Account, -int64(p.Amount), p.ID, ms(now)); err != nil {
			return fmt.Errorf("store: account payout %s: %w", p.ID, err)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'redeemed', redeem_type = ?, redeemed_at = ? WHERE code = ?`),
		redeemType, ms(now), p.Code); err != nil {
		return fmt.Errorf("store: redeem %s: %w", p.Code, err)
	}
	return nil
}

// AbortConfirm puts a confirming payout back to reserved: the operator
// could not be told, nothing was paid, and the till may confirm again.
func (s *Store) AbortConfirm(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE payouts SET status = 'reserved', updated_at = ? WHERE id = ? AND status = 'confirming'`), ms(now), id)
	if err != nil {
		return fmt.Errorf("store: abort confirm %s: %w", id, err)
	}
	return nil
}

// CancelPayout gives a reserved payout back (the voucher is active again,
// the account's balance whole); cancelling a cancelled payout changes
// nothing. A payout confirmed or confirming fails with [ErrConflict].
func (s *Store) CancelPayout(ctx context.Context, id string, a Actor, now time.Time, why string) (Payout, error) {
	var p Payout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE payouts SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'reserved'`), ms(now), id)
		if err != nil {
			return fmt.Errorf("store: cancel %s: %w", id, err)
		}
		if p, err = s.payout(ctx, tx, id, ""); err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			if p.Status == PayoutCancelled {
				return nil
			}
			return fmt.Errorf("%w: payout %s is %s", ErrConflict, id, p.Status)
		}
		if p.Code != "" {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'valid', pos_id = '', claimed_at = 0 WHERE code = ? AND status = 'reserved'`), p.Code); err != nil {
				return fmt.Errorf("store: release voucher %s: %w", p.Code, err)
			}
		}
		return s.audit(ctx, tx, a, now, "cancel", payoutSubject(p), p.Amount, "payout "+id+": "+why)
	})
	return p, err
}

// ExpireReservations cancels the payouts reserved before cutoff and
// returns them.
func (s *Store) ExpireReservations(ctx context.Context, cutoff, now time.Time) ([]Payout, error) {
	ids, err := s.column(ctx, `SELECT id FROM payouts WHERE status = 'reserved' AND updated_at < ? LIMIT 100`, ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("store: stale reservations: %w", err)
	}
	var out []Payout
	for _, id := range ids {
		p, err := s.CancelPayout(ctx, id, Actor{Who: "gateway"}, now, "not confirmed in time")
		if errors.Is(err, ErrConflict) {
			continue // confirmed meanwhile
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// RedeemedElsewhere settles a confirming voucher payout the operator says
// was redeemed already, not by this payout: nothing is paid here, and the
// voucher is redeemed (redeemType 99, other).
func (s *Store) RedeemedElsewhere(ctx context.Context, p Payout, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE payouts SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'confirming'`), ms(now), p.ID); err != nil {
			return fmt.Errorf("store: cancel %s: %w", p.ID, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'redeemed', redeem_type = 99, redeemed_at = ? WHERE code = ?`), ms(now), p.Code); err != nil {
			return fmt.Errorf("store: redeem %s: %w", p.Code, err)
		}
		return s.audit(ctx, tx, Actor{Who: "operator"}, now, "redeemed-elsewhere", "voucher "+p.Code, p.Amount, "payout "+p.ID)
	})
}
