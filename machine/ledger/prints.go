package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// UnprintedVouchers lists the paper vouchers not yet printed whole, oldest
// first: each was issued once (FinishSession) and is printed again, with the
// same code, until MarkPrinted.
func (l *Ledger) UnprintedVouchers(ctx context.Context) ([]Voucher, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT v.id, v.amount, v.print_type, v.issued_at, v.valid_until, v.source
		FROM voucher_prints p JOIN vouchers v ON v.id = p.voucher_id
		WHERE p.printed_at IS NULL ORDER BY p.rowid`)
	if err != nil {
		return nil, fmt.Errorf("ledger: unprinted vouchers: %w", err)
	}
	defer rows.Close()
	var out []Voucher
	for rows.Next() {
		var v Voucher
		var amount int64
		var issued, valid string
		if err := rows.Scan(&v.ID, &amount, &v.PrintType, &issued, &valid, &v.Source); err != nil {
			return nil, fmt.Errorf("ledger: unprinted vouchers: %w", err)
		}
		v.Amount, v.IssuedAt, v.ValidUntil = money.Grosze(amount), parseTS(issued), parseTS(valid)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: unprinted vouchers: %w", err)
	}
	return out, nil
}

// MarkPrinted records that the printer confirmed the voucher's ticket. A
// voucher already marked keeps its first time.
func (l *Ledger) MarkPrinted(ctx context.Context, id string, at time.Time) error {
	return l.notePrint(ctx, `UPDATE voucher_prints SET printed_at = ?, attempts = attempts + 1
		WHERE voucher_id = ? AND printed_at IS NULL`, ts(at), id)
}

// PrintFailed counts a failed attempt to print the voucher.
func (l *Ledger) PrintFailed(ctx context.Context, id string) error {
	return l.notePrint(ctx, `UPDATE voucher_prints SET attempts = attempts + 1
		WHERE voucher_id = ? AND printed_at IS NULL`, id)
}

func (l *Ledger) notePrint(ctx context.Context, q string, args ...any) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("ledger: voucher print: %w", err)
		}
		return nil
	})
}

// VoucherPrint is a paper voucher's print record.
type VoucherPrint struct {
	VoucherID string
	Printed   bool
	PrintedAt time.Time
	Attempts  int
}

// VoucherPrints lists every paper voucher's print record in issue order.
func (l *Ledger) VoucherPrints(ctx context.Context) ([]VoucherPrint, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT voucher_id, printed_at, attempts FROM voucher_prints ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("ledger: voucher prints: %w", err)
	}
	defer rows.Close()
	var out []VoucherPrint
	for rows.Next() {
		var p VoucherPrint
		var at sql.NullString
		if err := rows.Scan(&p.VoucherID, &at, &p.Attempts); err != nil {
			return nil, fmt.Errorf("ledger: voucher prints: %w", err)
		}
		if at.Valid {
			p.Printed, p.PrintedAt = true, parseTS(at.String)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
