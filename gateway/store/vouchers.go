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
	VoucherRedeeming = "redeeming" // claimed by a gateway before two-phase payouts; see ReserveVoucher
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

// knownVoucher returns what the gateway knows of code before a machine's
// event names it: the voucher as stored, or only its owner when the code is
// in a voucher buffer handed to a machine.
func (s *Store) knownVoucher(ctx context.Context, tx *sql.Tx, code string) (Voucher, bool, error) {
	v, err := scanVoucher(tx.QueryRowContext(ctx, s.q(`SELECT `+voucherCols+` FROM vouchers WHERE code = ?`), code))
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Voucher{}, false, fmt.Errorf("store: voucher %s: %w", code, err)
	}
	if found && v.Machine != "" {
		return v, true, nil
	}
	var owner string
	err = tx.QueryRowContext(ctx, s.q(`SELECT machine FROM voucher_buffer WHERE code = ?`), code).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return v, found, nil
	case err != nil:
		return Voucher{}, false, fmt.Errorf("store: voucher buffer %s: %w", code, err)
	}
	v.Code, v.Machine = code, owner
	return v, true, nil
}

// voucherConflict returns why machine may not say v about a voucher known
// as k, or "". A code belongs to the machine that issued it first (or that
// the operator's buffer gave it to), and what was printed for the customer
// (amount, currency, validity) and the transaction it pays for never change.
func voucherConflict(k, v Voucher, machine string) string {
	switch {
	case k.Machine != "" && k.Machine != machine:
		return fmt.Sprintf("voucher %s belongs to machine %s, not %s", v.Code, k.Machine, machine)
	case v.TransactionID != "" && k.TransactionID != "" && v.TransactionID != k.TransactionID:
		return fmt.Sprintf("voucher %s belongs to transaction %s, not %s", v.Code, k.TransactionID, v.TransactionID)
	case v.HasAmount && k.HasAmount && (v.Amount != k.Amount || v.Currency != k.Currency):
		return fmt.Sprintf("voucher %s was issued for %s %s, not %s %s", v.Code, k.Amount, k.Currency, v.Amount, v.Currency)
	case v.HasAmount && k.HasAmount && !v.ValidUntil.Equal(k.ValidUntil):
		return fmt.Sprintf("voucher %s is valid until %s, not %s", v.Code, k.ValidUntil.Format(time.RFC3339), v.ValidUntil.Format(time.RFC3339))
	}
	return ""
}

// mergeVoucher is what is known of a voucher after k, then v (without a
// conflict between them): the first word on each field stands.
func mergeVoucher(k, v Voucher) Voucher {
	if k.Machine != "" {
		v.Machine = k.Machine
	}
	if k.TransactionID != "" {
		v.TransactionID = k.TransactionID
	}
	if k.HasAmount {
		v.HasAmount, v.Amount, v.Currency, v.ValidUntil = true, k.Amount, k.Currency, k.ValidUntil
	}
	return v
}

func (s *Store) upsertVoucher(ctx context.Context, tx *sql.Tx, v Voucher) error {
	if v.Status == "" {
		v.Status = VoucherValid
	}
	has := 0
	if v.HasAmount {
		has = 1
	}
	// The first word on a code stands: its machine, its transaction, and
	// the amount and validity printed for the customer (a machine's event
	// that would change them is refused before it gets here, see
	// SaveBatch). A transaction brings the link and the donated flag, the
	// operator's answer its validity where none was printed. None takes a
	// voucher back from redeemed, and only its own machine marks it so.
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO vouchers(code, machine, rvm_id, transaction_id, amount, has_amount, currency,
		print_type, issued_at, valid_until, status, redeem_type, redeemed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(code) DO UPDATE SET
		machine = CASE WHEN vouchers.machine <> '' THEN vouchers.machine ELSE excluded.machine END,
		rvm_id = CASE WHEN vouchers.rvm_id <> '' THEN vouchers.rvm_id ELSE excluded.rvm_id END,
		transaction_id = CASE WHEN vouchers.transaction_id <> '' THEN vouchers.transaction_id ELSE excluded.transaction_id END,
		amount = CASE WHEN vouchers.has_amount = 0 AND excluded.has_amount = 1 THEN excluded.amount ELSE vouchers.amount END,
		currency = CASE WHEN vouchers.has_amount = 0 AND excluded.has_amount = 1 THEN excluded.currency ELSE vouchers.currency END,
		print_type = CASE WHEN vouchers.has_amount = 0 AND excluded.has_amount = 1 THEN excluded.print_type ELSE vouchers.print_type END,
		issued_at = CASE WHEN vouchers.has_amount = 0 AND excluded.has_amount = 1 AND excluded.issued_at <> 0 THEN excluded.issued_at
			WHEN vouchers.issued_at = 0 THEN excluded.issued_at ELSE vouchers.issued_at END,
		valid_until = CASE WHEN vouchers.has_amount = 0 AND excluded.has_amount = 1 AND excluded.valid_until <> 0 THEN excluded.valid_until
			WHEN vouchers.valid_until = 0 THEN excluded.valid_until ELSE vouchers.valid_until END,
		has_amount = CASE WHEN excluded.has_amount = 1 THEN 1 ELSE vouchers.has_amount END,
		status = CASE WHEN excluded.status = 'redeemed' AND (vouchers.machine = '' OR vouchers.machine = excluded.machine) THEN 'redeemed' ELSE vouchers.status END,
		redeem_type = CASE WHEN excluded.status = 'redeemed' AND (vouchers.machine = '' OR vouchers.machine = excluded.machine) THEN excluded.redeem_type ELSE vouchers.redeem_type END,
		redeemed_at = CASE WHEN excluded.status = 'redeemed' AND (vouchers.machine = '' OR vouchers.machine = excluded.machine) THEN excluded.redeemed_at ELSE vouchers.redeemed_at END`),
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

// PutVoucher records what is known of a voucher (see [Voucher]). What
// adds nothing to the voucher as stored is not written: the operator's
// answer to a transaction names the voucher the machine's events brought
// already, and a durable commit per delivered transaction would make the
// forwarder wait for the one writer, and the disk, on every one.
func (s *Store) PutVoucher(ctx context.Context, v Voucher) error {
	if cur, err := s.Voucher(ctx, v.Code); err == nil && !Adds(cur, v) {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.upsertVoucher(ctx, tx, v) })
}

// Adds reports whether [Store.PutVoucher] would change stored with v: v
// fills a field stored has empty, or marks it redeemed, or names a phone.
// Fields once filled are never emptied, so a stored voucher that v adds
// nothing to stays so: a caller holding a voucher read earlier (a [Run]'s)
// may skip PutVoucher when Adds says false.
func Adds(stored, v Voucher) bool {
	return v.Phone != "" || v.Status == VoucherRedeemed ||
		stored.Machine == "" && v.Machine != "" ||
		stored.RvmID == "" && v.RvmID != "" ||
		stored.TransactionID == "" && v.TransactionID != "" ||
		!stored.HasAmount && v.HasAmount ||
		stored.IssuedAt.IsZero() && !v.IssuedAt.IsZero() ||
		stored.ValidUntil.IsZero() && !v.ValidUntil.IsZero()
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

// Confirmation is the operator's answer when it confirms a transaction
// (the operator API's TransactionConfirmation): whether the transaction is
// blocked from payment, and the amount the machine's owner is to pay.
type Confirmation struct {
	TransactionID string       `json:"transactionId"`
	Blocked       bool         `json:"blocked"`
	Amount        money.Grosze `json:"amount"`
	Currency      string       `json:"currency,omitempty"`
	ConfirmedAt   time.Time    `json:"confirmedAt"`
}

// ConfirmTransactionWith records the operator's confirmation of a
// transaction with its answer: the delivery is done (see
// [Store.ConfirmTransaction]) and, when the answer says blocked, the
// transaction's voucher can no longer be claimed at a till.
func (s *Store) ConfirmTransactionWith(ctx context.Context, c Confirmation) error {
	if err := s.ConfirmTransaction(ctx, c.TransactionID, c.ConfirmedAt); err != nil {
		return err
	}
	return s.PutConfirmation(ctx, c)
}

// PutConfirmation records the operator's answer on a transaction (from its
// answer to POST /transaction, or its confirmation) without marking the
// transaction confirmed.
func (s *Store) PutConfirmation(ctx context.Context, c Confirmation) error {
	blocked := 0
	if c.Blocked {
		blocked = 1
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tx_confirmations(transaction_id, blocked, amount, currency, confirmed_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(transaction_id) DO UPDATE SET blocked = excluded.blocked, amount = excluded.amount,
		currency = excluded.currency, confirmed_at = excluded.confirmed_at`),
		c.TransactionID, blocked, int64(c.Amount), c.Currency, ms(c.ConfirmedAt))
	if err != nil {
		return fmt.Errorf("store: confirmation of %s: %w", c.TransactionID, err)
	}
	return nil
}

// Confirmation returns the operator's recorded answer on a transaction,
// and false when it has given none.
func (s *Store) Confirmation(ctx context.Context, txID string) (Confirmation, bool, error) {
	if txID == "" {
		return Confirmation{}, false, nil
	}
	c := Confirmation{TransactionID: txID}
	var blocked int
	var amount, at int64
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT blocked, amount, currency, confirmed_at FROM tx_confirmations WHERE transaction_id = ?`), txID).
		Scan(&blocked, &amount, &c.Currency, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Confirmation{}, false, nil
	}
	if err != nil {
		return Confirmation{}, false, fmt.Errorf("store: confirmation of %s: %w", txID, err)
	}
	c.Blocked, c.Amount, c.ConfirmedAt = blocked == 1, money.Grosze(amount), fromMS(at)
	return c, true, nil
}

// BlockedTransactions lists the operator's confirmations that block a
// transaction from payment, newest first.
func (s *Store) BlockedTransactions(ctx context.Context) ([]Confirmation, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT transaction_id, amount, currency, confirmed_at FROM tx_confirmations WHERE blocked = 1 ORDER BY confirmed_at DESC, transaction_id`)
	if err != nil {
		return nil, fmt.Errorf("store: blocked transactions: %w", err)
	}
	defer rows.Close()
	out := []Confirmation{}
	for rows.Next() {
		c := Confirmation{Blocked: true}
		var amount, at int64
		if err := rows.Scan(&c.TransactionID, &amount, &c.Currency, &at); err != nil {
			return nil, fmt.Errorf("store: blocked transactions: %w", err)
		}
		c.Amount, c.ConfirmedAt = money.Grosze(amount), fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
