package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// SetPIN stores the technician PIN's hash (a salted slow hash the console
// makes; the ledger never sees the PIN), replacing any earlier one.
func (l *Ledger) SetPIN(ctx context.Context, hash string, at time.Time) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO technician_pin (one, hash, set_at) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at`,
			hash, ts(at))
		if err != nil {
			return fmt.Errorf("ledger: set pin: %w", err)
		}
		return nil
	})
}

// PIN returns the stored PIN hash; ok is false while none is set.
func (l *Ledger) PIN(ctx context.Context) (hash string, ok bool, err error) {
	err = l.db.QueryRowContext(ctx, `SELECT hash FROM technician_pin WHERE one = 1`).Scan(&hash)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ledger: pin: %w", err)
	}
	return hash, true, nil
}

// AuditEntry is one line of the console's audit log.
type AuditEntry struct {
	N       int64
	At      time.Time
	Session string
	Action  string
	OK      bool
	Detail  string
}

// Audit appends an entry to the audit log and, in the same transaction, an
// "audit" event for the fleet.
func (l *Ledger) Audit(ctx context.Context, e AuditEntry, rvmID string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		return audit(ctx, tx, w, e, rvmID)
	})
}

func audit(ctx context.Context, tx *sql.Tx, w *writer, e AuditEntry, rvmID string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, session, action, ok, detail) VALUES (?, ?, ?, ?, ?)`,
		ts(e.At), e.Session, e.Action, e.OK, e.Detail); err != nil {
		return fmt.Errorf("ledger: audit: %w", err)
	}
	r, err := record(w, envelope.KindAudit, e.At, rvmID, envelope.AuditEvent{Session: e.Session, Action: e.Action, OK: e.OK, Detail: e.Detail})
	if err != nil {
		return err
	}
	return w.append(ctx, tx, r)
}

// AuditLog returns the last n entries (all for n <= 0), oldest first.
func (l *Ledger) AuditLog(ctx context.Context, n int) ([]AuditEntry, error) {
	if n <= 0 {
		n = -1
	}
	rows, err := l.db.QueryContext(ctx,
		`SELECT n, at, session, action, ok, detail FROM (SELECT * FROM audit_log ORDER BY n DESC LIMIT ?) ORDER BY n`, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.N, &at, &e.Session, &e.Action, &e.OK, &e.Detail); err != nil {
			return nil, fmt.Errorf("ledger: audit log: %w", err)
		}
		e.At = parseTS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// CalChange is one accepted calibration: who, when, the factors before and
// after, the references it was made from and how straight the cell was.
type CalChange struct {
	Cell         string
	At           time.Time
	By           string // the console session
	Old, New     Cal
	Refs         string // the reference loads and readings, as the console wrote them
	LinearityPPM int64
}

// RecordCalibration puts a new calibration in force for the cell and
// records the change in the calibration log and the audit log (with its
// event), in one transaction.
func (l *Ledger) RecordCalibration(ctx context.Context, ch CalChange, rvmID string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO calibrations (cell, offset_counts, counts_per_kg, resolution_mg, at, by, note) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			ch.Cell, ch.New.Offset, ch.New.CountsPerKg, ch.New.ResolutionMg, ts(ch.At), ch.By, "console calibration: "+ch.Refs); err != nil {
			return fmt.Errorf("ledger: calibration %s: %w", ch.Cell, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO calibration_log (cell, at, by, old_offset, old_per_kg, new_offset, new_per_kg, resolution_mg, refs, linearity_ppm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ch.Cell, ts(ch.At), ch.By, ch.Old.Offset, ch.Old.CountsPerKg, ch.New.Offset, ch.New.CountsPerKg, ch.New.ResolutionMg, ch.Refs, ch.LinearityPPM); err != nil {
			return fmt.Errorf("ledger: calibration log %s: %w", ch.Cell, err)
		}
		detail := fmt.Sprintf("%s: offset %d -> %d, %d -> %d counts/kg; %s", ch.Cell,
			ch.Old.Offset, ch.New.Offset, ch.Old.CountsPerKg, ch.New.CountsPerKg, ch.Refs)
		return audit(ctx, tx, w, AuditEntry{At: ch.At, Session: ch.By, Action: "calib accept", OK: true, Detail: detail}, rvmID)
	})
}

// CalibrationHistory returns the calibrations the console made, for one
// cell or all ("" cell), oldest first.
func (l *Ledger) CalibrationHistory(ctx context.Context, cell string) ([]CalChange, error) {
	rows, err := l.db.QueryContext(ctx,
		`SELECT cell, at, by, old_offset, old_per_kg, new_offset, new_per_kg, resolution_mg, refs, linearity_ppm
		 FROM calibration_log WHERE ? = '' OR cell = ? ORDER BY n`, cell, cell)
	if err != nil {
		return nil, fmt.Errorf("ledger: calibration history: %w", err)
	}
	defer rows.Close()
	var out []CalChange
	for rows.Next() {
		var ch CalChange
		var at string
		if err := rows.Scan(&ch.Cell, &at, &ch.By, &ch.Old.Offset, &ch.Old.CountsPerKg, &ch.New.Offset, &ch.New.CountsPerKg,
			&ch.New.ResolutionMg, &ch.Refs, &ch.LinearityPPM); err != nil {
			return nil, fmt.Errorf("ledger: calibration history: %w", err)
		}
		ch.At = parseTS(at)
		ch.New.At, ch.New.By = ch.At, ch.By
		ch.Old.ResolutionMg = ch.New.ResolutionMg
		out = append(out, ch)
	}
	return out, rows.Err()
}

// Voucher returns an issued voucher by id, for a reprint.
func (l *Ledger) Voucher(ctx context.Context, id string) (Voucher, bool, error) {
	var v Voucher
	var issued, valid string
	err := l.db.QueryRowContext(ctx,
		`SELECT id, amount, print_type, issued_at, valid_until, source FROM vouchers WHERE id = ?`, id).
		Scan(&v.ID, &v.Amount, &v.PrintType, &issued, &valid, &v.Source)
	if err == sql.ErrNoRows {
		return Voucher{}, false, nil
	}
	if err != nil {
		return Voucher{}, false, fmt.Errorf("ledger: voucher %s: %w", id, err)
	}
	v.IssuedAt, v.ValidUntil = parseTS(issued), parseTS(valid)
	return v, true, nil
}

// LastBags returns the tare of the open bag and of the one before it, in
// milligrams; ok is false when there is no earlier bag.
func (l *Ledger) LastBags(ctx context.Context) (openTareMg, prevTareMg int64, ok bool, err error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tare_mg FROM bags ORDER BY opened_at DESC, rowid DESC LIMIT 2`)
	if err != nil {
		return 0, 0, false, fmt.Errorf("ledger: bags: %w", err)
	}
	defer rows.Close()
	var t []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, 0, false, fmt.Errorf("ledger: bags: %w", err)
		}
		t = append(t, v)
	}
	if len(t) < 2 {
		if len(t) == 1 {
			return t[0], 0, false, rows.Err()
		}
		return 0, 0, false, rows.Err()
	}
	return t[0], t[1], true, rows.Err()
}

// RaiseWarning sets a service warning under key (replacing one there) and
// appends its "service-warning" event, in one transaction. A warning stays
// until ClearWarning: it survives a restart.
func (l *Ledger) RaiseWarning(ctx context.Context, key, text string, at time.Time, rvmID string, body any) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if err := setMeta(ctx, tx, "warning:"+key, text); err != nil {
			return err
		}
		r, err := record(w, envelope.KindServiceWarning, at, rvmID, body)
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
}

// ClearWarning lifts the service warning under key (none there is fine).
func (l *Ledger) ClearWarning(ctx context.Context, key string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM meta WHERE k = ?`, "warning:"+key)
	if err != nil {
		return fmt.Errorf("ledger: clear warning %s: %w", key, err)
	}
	return nil
}

// Warnings returns the service warnings in force, by key order.
func (l *Ledger) Warnings(ctx context.Context) ([]string, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT v FROM meta WHERE k LIKE 'warning:%' AND v != '' ORDER BY k`)
	if err != nil {
		return nil, fmt.Errorf("ledger: warnings: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("ledger: warnings: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
