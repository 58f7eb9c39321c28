package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/internal/money"
)

// Kinds of account entries.
const (
	EntryCredit   = "credit"   // a deposit, once the operator accepted its transaction
	EntryPayout   = "payout"   // paid out at a till (negative)
	EntryReversal = "reversal" // part or all of a credit taken back (negative)
)

// Account is a customer's deposit account. The phone is the only
// personal datum; erasing the account removes it and keeps the money
// history under the account's id.
type Account struct {
	ID      string
	Phone   string
	Balance money.Grosze // entries less the payouts reserved
	Entries []Entry
}

// Entry is one movement of an account's money.
type Entry struct {
	Kind          string
	Amount        money.Grosze
	TransactionID string
	At            time.Time
}

// RegisterAccount opens an account for phone (the customer consented)
// and reports whether it is new.
func (s *Store) RegisterAccount(ctx context.Context, phone string, a Actor, now time.Time) (Account, bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id := uuid.NewString()
		r, err := tx.ExecContext(ctx, s.q(`INSERT INTO accounts(id, phone, consent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), id, phone, ms(now))
		if err != nil {
			return fmt.Errorf("store: register account: %w", err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return nil
		}
		created = true
		return s.audit(ctx, tx, a, now, "register", "account "+id, 0, "consent given")
	})
	if err != nil {
		return Account{}, false, err
	}
	acc, err := s.Account(ctx, phone)
	return acc, created, err
}

func (s *Store) accountID(ctx context.Context, q queryRower, phone, lock string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, s.q(`SELECT id FROM accounts WHERE phone = ?`+lock), phone).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: no account for this phone", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: account: %w", err)
	}
	return id, nil
}

// balance is what account id may pay out now.
func (s *Store) balance(ctx context.Context, tx *sql.Tx, id string) (money.Grosze, error) {
	var in, held int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(amount), 0) FROM account_entries WHERE account = ?`), id).Scan(&in); err != nil {
		return 0, fmt.Errorf("store: balance: %w", err)
	}
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(amount), 0) FROM payouts WHERE account = ? AND status IN ('reserved', 'confirming')`), id).Scan(&held); err != nil {
		return 0, fmt.Errorf("store: balance: %w", err)
	}
	return money.Grosze(in - held), nil
}

// Account returns the account of phone with its entries, oldest first.
func (s *Store) Account(ctx context.Context, phone string) (Account, error) {
	var acc Account
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := s.accountID(ctx, tx, phone, "")
		if err != nil {
			return err
		}
		acc = Account{ID: id, Phone: phone, Entries: []Entry{}}
		if acc.Balance, err = s.balance(ctx, tx, id); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT kind, amount, transaction_id, at FROM account_entries WHERE account = ? ORDER BY id`), id)
		if err != nil {
			return fmt.Errorf("store: account entries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e Entry
			var amount, at int64
			if err := rows.Scan(&e.Kind, &amount, &e.TransactionID, &at); err != nil {
				return fmt.Errorf("store: account entries: %w", err)
			}
			e.Amount, e.At = money.Grosze(amount), fromMS(at)
			acc.Entries = append(acc.Entries, e)
		}
		return rows.Err()
	})
	return acc, err
}

// ReserveAccount sets amount of phone's balance aside for a till as
// payout id. The account's row is locked while the balance is read, so
// two tills cannot both spend the same money. It fails with
// [ErrNotFound] or [ErrInsufficient].
func (s *Store) ReserveAccount(ctx context.Context, phone string, amount money.Grosze, id string, a Actor, now time.Time) (Payout, error) {
	var p Payout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		acc, err := s.accountID(ctx, tx, phone, s.forUpdate())
		if err != nil {
			return err
		}
		bal, err := s.balance(ctx, tx, acc)
		if err != nil {
			return err
		}
		if amount > bal {
			return fmt.Errorf("%w: the balance is %s PLN, %s PLN asked", ErrInsufficient, bal, amount)
		}
		p = Payout{ID: id, Account: acc, Amount: amount, Till: a.Till, Status: PayoutReserved, CreatedAt: now, UpdatedAt: now}
		if err := s.insertPayout(ctx, tx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, now, "reserve", "account "+acc, amount, "payout "+id)
	})
	return p, err
}

// ReverseCredit takes amount of the credit of transaction txID back from
// phone's account. It fails with [ErrNotFound] (no such account or
// credit) or [ErrInsufficient] (beyond what the credit has left).
func (s *Store) ReverseCredit(ctx context.Context, phone, txID string, amount money.Grosze, a Actor, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		acc, err := s.accountID(ctx, tx, phone, s.forUpdate())
		if err != nil {
			return err
		}
		var credits int
		var left int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(CASE WHEN kind = 'credit' THEN 1 END), COALESCE(SUM(amount), 0) FROM account_entries
			WHERE account = ? AND transaction_id = ? AND kind IN ('credit', 'reversal')`), acc, txID).Scan(&credits, &left); err != nil {
			return fmt.Errorf("store: credit %s: %w", txID, err)
		}
		if credits == 0 {
			return fmt.Errorf("%w: no credit of transaction %s", ErrNotFound, txID)
		}
		if int64(amount) > left {
			return fmt.Errorf("%w: the credit of %s has %s PLN left, %s PLN asked", ErrInsufficient, txID, money.Grosze(left), amount)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO account_entries(account, kind, amount, transaction_id, at) VALUES (?, 'reversal', ?, ?, ?)`),
			acc, -int64(amount), txID, ms(now)); err != nil {
			return fmt.Errorf("store: reversal: %w", err)
		}
		return s.audit(ctx, tx, a, now, "reverse", "account "+acc, amount, "transaction "+txID)
	})
}

// EraseAccount forgets the person behind phone's account: the phone is
// removed wherever it was kept (the account, its vouchers and their
// notifications); the entries and the audit trail stay under the
// account's id.
func (s *Store) EraseAccount(ctx context.Context, phone string, a Actor, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		acc, err := s.accountID(ctx, tx, phone, s.forUpdate())
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE accounts SET phone = NULL, erased_at = ? WHERE id = ?`), ms(now), acc); err != nil {
			return fmt.Errorf("store: erase: %w", err)
		}
		for _, q := range []string{
			`UPDATE digital_vouchers SET phone = '' WHERE phone = ?`,
			`UPDATE notifications SET phone = '' WHERE phone = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), phone); err != nil {
				return fmt.Errorf("store: erase: %w", err)
			}
		}
		return s.audit(ctx, tx, a, now, "erase", "account "+acc, 0, "")
	})
}
