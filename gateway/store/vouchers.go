package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// Voucher statuses.
const (
	VoucherValid     = "valid"     // may be redeemed
	VoucherRedeeming = "redeeming" // a till claimed it; the operator is being told
	VoucherRedeemed  = "redeemed"  // paid out (or donated)
)

// Voucher is what the gateway knows about one voucher code. A voucher is
// learnt from a machine's "voucher" event (amount, validity) and from its
// transaction (the link, and whether it was donated); either may come first.
type Voucher struct {
	Code          string
	Machine       string
	RvmID         string
	TransactionID string
	Amount        money.Grosze
	HasAmount     bool // Amount came from a voucher event
	Currency      string
	PrintType     int
	IssuedAt      time.Time
	ValidUntil    time.Time
	Status        string
	RedeemType    int
	PosID         string
	RedeemedAt    time.Time
	// Phone and Payout ("digital" or "account") come with a voucher for a
	// phone rather than paper; see digital.go.
	Phone, Payout string
}

func (s *Store) upsertVoucher(ctx context.Context, tx *sql.Tx, v Voucher) error {
	if v.Status == "" {
		v.Status = VoucherValid
	}
	has := 0
	if v.HasAmount {
		has = 1
	}
	// A voucher event brings the amount and validity as printed for the
	// customer, and wins; a transaction brings the link and the donated flag,
	// the operator's answer its validity where none was printed. None takes a
	// voucher back from redeemed.
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO vouchers(code, machine, rvm_id, transaction_id, amount, has_amount, currency,
		print_type, issued_at, valid_until, status, redeem_type, redeemed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(code) DO UPDATE SET
		machine = CASE WHEN excluded.machine <> '' THEN excluded.machine ELSE vouchers.machine END,
		rvm_id = CASE WHEN excluded.rvm_id <> '' THEN excluded.rvm_id ELSE vouchers.rvm_id END,
		transaction_id = CASE WHEN excluded.transaction_id <> '' THEN excluded.transaction_id ELSE vouchers.transaction_id END,
		amount = CASE WHEN excluded.has_amount = 1 THEN excluded.amount ELSE vouchers.amount END,
		currency = CASE WHEN excluded.has_amount = 1 THEN excluded.currency ELSE vouchers.currency END,
		print_type = CASE WHEN excluded.has_amount = 1 THEN excluded.print_type ELSE vouchers.print_type END,
		issued_at = CASE WHEN excluded.has_amount = 1 AND excluded.issued_at <> 0 THEN excluded.issued_at
			WHEN vouchers.issued_at = 0 THEN excluded.issued_at ELSE vouchers.issued_at END,
		valid_until = CASE WHEN excluded.has_amount = 1 AND excluded.valid_until <> 0 THEN excluded.valid_until
			WHEN vouchers.valid_until = 0 THEN excluded.valid_until ELSE vouchers.valid_until END,
		has_amount = CASE WHEN excluded.has_amount = 1 THEN 1 ELSE vouchers.has_amount END,
		status = CASE WHEN excluded.status = 'redeemed' THEN 'redeemed' ELSE vouchers.status END,
		redeem_type = CASE WHEN excluded.status = 'redeemed' THEN excluded.redeem_type ELSE vouchers.redeem_type END,
		redeemed_at = CASE WHEN excluded.status = 'redeemed' THEN excluded.redeemed_at ELSE vouchers.redeemed_at END`),
		v.Code, v.Machine, v.RvmID, v.TransactionID, int64(v.Amount), has, v.Currency, v.PrintType,
		ms(v.IssuedAt), ms(v.ValidUntil), v.Status, v.RedeemType, ms(v.RedeemedAt))
	if err != nil {
		return fmt.Errorf("store: voucher %s: %w", v.Code, err)
	}
	if v.Phone != "" {
		return s.recordDigital(ctx, tx, v)
	}
	return nil
}

// PutVoucher records what is known of a voucher (see [Voucher]).
func (s *Store) PutVoucher(ctx context.Context, v Voucher) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.upsertVoucher(ctx, tx, v) })
}

const voucherCols = `code, machine, rvm_id, transaction_id, amount, has_amount, currency, print_type, issued_at, valid_until, status, redeem_type, pos_id, redeemed_at`

func scanVoucher(sc interface{ Scan(...any) error }) (Voucher, error) {
	var v Voucher
	var amount, issued, until, redeemed int64
	var has int
	err := sc.Scan(&v.Code, &v.Machine, &v.RvmID, &v.TransactionID, &amount, &has, &v.Currency, &v.PrintType,
		&issued, &until, &v.Status, &v.RedeemType, &v.PosID, &redeemed)
	v.Amount, v.HasAmount = money.Grosze(amount), has == 1
	v.IssuedAt, v.ValidUntil, v.RedeemedAt = fromMS(issued), fromMS(until), fromMS(redeemed)
	return v, err
}

// Voucher returns one voucher.
func (s *Store) Voucher(ctx context.Context, code string) (Voucher, error) {
	v, err := scanVoucher(s.rd.QueryRowContext(ctx, s.q(`SELECT `+voucherCols+` FROM vouchers WHERE code = ?`), code))
	if errors.Is(err, sql.ErrNoRows) {
		return Voucher{}, fmt.Errorf("%w: voucher %s", ErrNotFound, code)
	}
	if err != nil {
		return Voucher{}, fmt.Errorf("store: voucher %s: %w", code, err)
	}
	return v, nil
}

// VoucherOfTransaction returns the voucher a transaction issued.
func (s *Store) VoucherOfTransaction(ctx context.Context, txID string) (Voucher, error) {
	v, err := scanVoucher(s.rd.QueryRowContext(ctx, s.q(`SELECT `+voucherCols+` FROM vouchers WHERE transaction_id = ? LIMIT 1`), txID))
	if errors.Is(err, sql.ErrNoRows) {
		return Voucher{}, fmt.Errorf("%w: voucher of %s", ErrNotFound, txID)
	}
	if err != nil {
		return Voucher{}, fmt.Errorf("store: voucher of %s: %w", txID, err)
	}
	return v, nil
}

// StaleClaim is how long a voucher claim may stay unresolved before
// another till may take it over.
const StaleClaim = 2 * time.Minute

// ClaimVoucher takes a valid, unexpired voucher for posID, so that no
// other till can redeem it while the operator is told. The conditional
// UPDATE is the arbiter: of two tills, exactly one changes the row. It
// fails with [ErrNotFound], [ErrAlreadyRedeemed] or [ErrExpired].
func (s *Store) ClaimVoucher(ctx context.Context, code, posID string, now time.Time) (Voucher, error) {
	// A claim left behind by a gateway that died during the operator call
	// is taken over after StaleClaim: the operator's own once-only rule
	// (409 on a second redemption) then says whether it went through.
	r, err := s.db.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'redeeming', pos_id = ?, claimed_at = ?
		WHERE code = ? AND (status = 'valid' OR (status = 'redeeming' AND claimed_at < ?))
		AND (valid_until = 0 OR valid_until > ?)`), posID, ms(now), code, ms(now.Add(-StaleClaim)), ms(now))
	if err != nil {
		return Voucher{}, fmt.Errorf("store: claim voucher %s: %w", code, err)
	}
	n, _ := r.RowsAffected()
	v, err := s.Voucher(ctx, code)
	if err != nil {
		return Voucher{}, err
	}
	if n == 1 {
		return v, nil
	}
	switch {
	case v.Status != VoucherValid:
		return v, fmt.Errorf("%w: %s is %s", ErrAlreadyRedeemed, code, v.Status)
	default:
		return v, fmt.Errorf("%w: %s was valid until %s", ErrExpired, code, v.ValidUntil.Format(time.RFC3339))
	}
}

// CompleteRedemption marks a claimed voucher redeemed.
func (s *Store) CompleteRedemption(ctx context.Context, code string, redeemType int, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'redeemed', redeem_type = ?, redeemed_at = ? WHERE code = ?`),
		redeemType, ms(at), code)
	if err != nil {
		return fmt.Errorf("store: redeem %s: %w", code, err)
	}
	return nil
}

// ReleaseVoucher gives a claimed voucher back (the operator refused or
// could not be reached), so that the customer can try again.
func (s *Store) ReleaseVoucher(ctx context.Context, code string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE vouchers SET status = 'valid', pos_id = '', claimed_at = 0 WHERE code = ? AND status = 'redeeming'`), code)
	if err != nil {
		return fmt.Errorf("store: release voucher %s: %w", code, err)
	}
	return nil
}
