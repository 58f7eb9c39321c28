package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// States of a digital voucher (sent to a phone) or of a deposit to an
// account, kept beside the voucher.
const (
	DigitalPending  = "pending"  // its transaction is not accepted by the operator yet
	DigitalActive   = "active"   // accepted; the code goes to the phone
	DigitalCredited = "credited" // accepted and credited to the phone's account
)

// DigitalVoucher is a voucher for a phone rather than paper.
type DigitalVoucher struct {
	Code   string
	Phone  string // "" once the account holding it was erased
	Payout string // "digital" or "account"
	State  string
}

// recordDigital remembers that voucher v goes to a phone. The first word
// wins: a repeated event changes nothing.
func (s *Store) recordDigital(ctx context.Context, tx *sql.Tx, v Voucher) error {
	payout := v.Payout
	if payout == "" {
		payout = "digital"
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO digital_vouchers(code, phone, payout, state, created_at) VALUES (?, ?, ?, 'pending', ?)
		ON CONFLICT DO NOTHING`), v.Code, v.Phone, payout, ms(v.IssuedAt)); err != nil {
		return fmt.Errorf("store: digital voucher %s: %w", v.Code, err)
	}
	return nil
}

// DigitalVoucher returns what is known of a voucher for a phone, or
// [ErrNotFound] for a printed one.
func (s *Store) DigitalVoucher(ctx context.Context, code string) (DigitalVoucher, error) {
	d := DigitalVoucher{Code: code}
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT phone, payout, state FROM digital_vouchers WHERE code = ?`), code).Scan(&d.Phone, &d.Payout, &d.State)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%w: digital voucher %s", ErrNotFound, code)
	}
	if err != nil {
		return d, fmt.Errorf("store: digital voucher %s: %w", code, err)
	}
	return d, nil
}

// Activated is a voucher for a phone that became active: to notify, or
// credited to an account.
type Activated struct {
	Code     string
	Credited bool   // credited to an account; nothing to send
	Account  string // the account's id, when credited
}

// ActivateDigital makes active the vouchers for phones whose transaction
// the operator has accepted: each is credited to its phone's account
// (payout "account" with a registered phone) or queued for the notifier.
// Replicas may run it together: the conditional update lets one win each.
func (s *Store) ActivateDigital(ctx context.Context, now time.Time) ([]Activated, error) {
	codes, err := s.column(ctx, `SELECT d.code FROM digital_vouchers d
		JOIN vouchers v ON v.code = d.code JOIN events e ON e.id = v.transaction_id
		WHERE d.state = 'pending' AND e.state = 'delivered' AND v.has_amount = 1 LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("store: accepted digital vouchers: %w", err)
	}
	var out []Activated
	for _, code := range codes {
		var act *Activated
		err := s.tx(ctx, func(tx *sql.Tx) error {
			act = nil
			var d DigitalVoucher
			var amount int64
			var txID string
			err := tx.QueryRowContext(ctx, s.q(`SELECT d.phone, d.payout, v.amount, v.transaction_id FROM digital_vouchers d
				JOIN vouchers v ON v.code = d.code WHERE d.code = ? AND d.state = 'pending'`), code).Scan(&d.Phone, &d.Payout, &amount, &txID)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // another replica won it
			}
			if err != nil {
				return fmt.Errorf("store: digital voucher %s: %w", code, err)
			}
			account := ""
			if d.Payout == "account" {
				err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM accounts WHERE phone = ?`), d.Phone).Scan(&account)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("store: account of %s: %w", code, err)
				}
			}
			state := DigitalActive
			if account != "" {
				state = DigitalCredited
			}
			r, err := tx.ExecContext(ctx, s.q(`UPDATE digital_vouchers SET state = ? WHERE code = ? AND state = 'pending'`), state, code)
			if err != nil {
				return fmt.Errorf("store: activate %s: %w", code, err)
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return nil
			}
			act = &Activated{Code: code, Credited: account != "", Account: account}
			if account == "" {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications(code, phone, state, next_at) VALUES (?, ?, 'due', ?)
					ON CONFLICT DO NOTHING`), code, d.Phone, ms(now)); err != nil {
					return fmt.Errorf("store: notify %s: %w", code, err)
				}
				return s.audit(ctx, tx, Actor{Who: "gateway"}, now, "activate", "voucher "+code, 0, "operator accepted "+txID)
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'redeemed', redeem_type = 99, redeemed_at = ? WHERE code = ?`), ms(now), code); err != nil {
				return fmt.Errorf("store: credit %s: %w", code, err)
			}
			// The store now owes the customer: the operator is told the
			// voucher is redeemed (redeemType 99), from the same queue.
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications(code, phone, kind, state, next_at) VALUES (?, '', 'redeem', 'due', ?)
				ON CONFLICT DO NOTHING`), code, ms(now)); err != nil {
				return fmt.Errorf("store: redeem %s: %w", code, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO account_entries(account, kind, amount, transaction_id, at) VALUES (?, 'credit', ?, ?, ?)`),
				account, amount, txID, ms(now)); err != nil {
				return fmt.Errorf("store: credit %s: %w", code, err)
			}
			return s.audit(ctx, tx, Actor{Who: "gateway"}, now, "credit", "account "+account, 0, "voucher "+code+" of "+txID)
		})
		if err != nil {
			return out, err
		}
		if act != nil {
			out = append(out, *act)
		}
	}
	return out, nil
}

// Kinds of notification: what a voucher's code is on its way to.
const (
	NotifySMS    = "sms"    // the customer's phone (the gateway's Notifier)
	NotifyRedeem = "redeem" // the operator: a voucher credited to an account is redeemed
)

// Notification is a voucher's code on its way to a phone, or to the
// operator as redeemed.
type Notification struct {
	Code     string
	Phone    string
	Kind     string
	Attempts int
}

// ClaimNotification takes one due notification of kind ("" any) until
// now+lease: no other replica sends it meanwhile. ok is false when none is
// due.
func (s *Store) ClaimNotification(ctx context.Context, kind string, now time.Time, lease time.Duration) (n Notification, ok bool, err error) {
	codes, err := s.column(ctx, `SELECT code FROM notifications WHERE state = 'due' AND next_at <= ? AND lease_until <= ? AND (? = '' OR kind = ?)
		ORDER BY next_at LIMIT 8`, ms(now), ms(now), kind, kind)
	if err != nil {
		return n, false, fmt.Errorf("store: due notifications: %w", err)
	}
	for _, c := range codes {
		r, err := s.db.ExecContext(ctx, s.q(`UPDATE notifications SET lease_until = ?, attempts = attempts + 1
			WHERE code = ? AND state = 'due' AND next_at <= ? AND lease_until <= ?`), ms(now.Add(lease)), c, ms(now), ms(now))
		if err != nil {
			return n, false, fmt.Errorf("store: claim notification %s: %w", c, err)
		}
		if k, _ := r.RowsAffected(); k != 1 {
			continue
		}
		n.Code = c
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT phone, kind, attempts FROM notifications WHERE code = ?`), c).Scan(&n.Phone, &n.Kind, &n.Attempts); err != nil {
			return n, false, fmt.Errorf("store: notification %s: %w", c, err)
		}
		return n, true, nil
	}
	return n, false, nil
}

// NotificationSent records that the code went out.
func (s *Store) NotificationSent(ctx context.Context, n Notification, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE notifications SET state = 'sent', sent_at = ?, sends = sends + 1, lease_until = 0, last_error = '' WHERE code = ?`), ms(now), n.Code); err != nil {
			return fmt.Errorf("store: notification %s sent: %w", n.Code, err)
		}
		return s.audit(ctx, tx, Actor{Who: "gateway"}, now, "notify-"+n.Kind, "voucher "+n.Code, 0, "")
	})
}

// NotificationFailed schedules another attempt at next.
func (s *Store) NotificationFailed(ctx context.Context, code string, next time.Time, why string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE notifications SET next_at = ?, lease_until = 0, last_error = ? WHERE code = ?`), ms(next), why, code); err != nil {
		return fmt.Errorf("store: notification %s failed: %w", code, err)
	}
	return nil
}

// ErrRateLimited: a resend asked for too soon after the last send.
var ErrRateLimited = errors.New("store: too soon")

// ResendNotification queues a sent code again, at most once per gap. A
// code not sent yet is on its way: nothing changes. A voucher with no
// notification fails with [ErrNotFound].
func (s *Store) ResendNotification(ctx context.Context, code string, a Actor, now time.Time, gap time.Duration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE notifications SET state = 'due', next_at = ?, attempts = 0 WHERE code = ? AND kind = 'sms' AND state = 'sent' AND sent_at <= ? AND phone <> ''`),
			ms(now), code, ms(now.Add(-gap)))
		if err != nil {
			return fmt.Errorf("store: resend %s: %w", code, err)
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return s.audit(ctx, tx, a, now, "resend", "voucher "+code, 0, "")
		}
		var state, phone string
		err = tx.QueryRowContext(ctx, s.q(`SELECT state, phone FROM notifications WHERE code = ? AND kind = 'sms'`), code).Scan(&state, &phone)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && phone == ""):
			return fmt.Errorf("%w: no notification of voucher %s", ErrNotFound, code)
		case err != nil:
			return fmt.Errorf("store: resend %s: %w", code, err)
		case state == "sent":
			return fmt.Errorf("%w: voucher %s was sent less than %s ago", ErrRateLimited, code, gap)
		}
		return nil
	})
}
