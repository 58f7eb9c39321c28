package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Bag is the bag in the machine.
type Bag struct {
	ID       string
	Bin      int
	OpenedAt time.Time
	TareMg   int64 // what the bag scale read with the empty bag in
	Warned   bool
	Full     bool
}

// EnsureBag returns the open bag, opening a first one (with the given bin
// and tare) when the machine has none yet.
func (l *Ledger) EnsureBag(ctx context.Context, bin int, tareMg int64, at time.Time) (Bag, error) {
	b, ok, err := l.openBag(ctx, l.db)
	if err != nil || ok {
		return b, err
	}
	err = l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		b = Bag{ID: w.newID(), Bin: bin, OpenedAt: at, TareMg: tareMg}
		return insertBag(ctx, tx, b)
	})
	return b, err
}

func insertBag(ctx context.Context, tx *sql.Tx, b Bag) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO bags (id, bin, opened_at, tare_mg) VALUES (?, ?, ?, ?)`,
		b.ID, b.Bin, ts(b.OpenedAt), b.TareMg)
	if err != nil {
		return fmt.Errorf("ledger: open bag: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (l *Ledger) openBag(ctx context.Context, q querier) (Bag, bool, error) {
	var b Bag
	var opened string
	err := q.QueryRowContext(ctx,
		`SELECT id, bin, opened_at, tare_mg, warned, full FROM bags WHERE closed_at IS NULL ORDER BY opened_at DESC LIMIT 1`).
		Scan(&b.ID, &b.Bin, &opened, &b.TareMg, &b.Warned, &b.Full)
	if err == sql.ErrNoRows {
		return Bag{}, false, nil
	}
	if err != nil {
		return Bag{}, false, fmt.Errorf("ledger: open bag: %w", err)
	}
	b.OpenedAt = parseTS(opened)
	return b, true, nil
}

// Exchange describes staff replacing the full bag.
type Exchange struct {
	Seal      string
	Staff     string
	Bin       int
	At        time.Time
	RvmID     string
	MeasuredG int64 // bag scale reading of the full bag, less its tare, in grams
	NewTareMg int64 // bag scale reading with the new, empty bag
}

// ExchangeBag closes the open bag under the given seal, opens a new one and
// appends the bag-replacement report. A seal this machine already used is
// refused with ErrSealUsed and nothing changes.
func (l *Ledger) ExchangeBag(ctx context.Context, ex Exchange) (drsapi.BagReplacement, Bag, error) {
	var rep drsapi.BagReplacement
	var nb Bag
	err := l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		if err := sealFree(ctx, tx, ex.Seal); err != nil {
			return err
		}
		old, ok, err := l.openBag(ctx, tx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("ledger: no bag in the machine")
		}
		rep, err = bagReport(ctx, tx, old, ex)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bags SET closed_at = ?, seal = ?, staff = ? WHERE id = ?`,
			ts(ex.At), ex.Seal, ex.Staff, old.ID); err != nil {
			return fmt.Errorf("ledger: close bag: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO seals (number, bag_id, sealed_at, staff) VALUES (?, ?, ?, ?)`,
			ex.Seal, old.ID, ts(ex.At), ex.Staff); err != nil {
			return fmt.Errorf("ledger: seal: %w", err)
		}
		bin := ex.Bin
		if bin == 0 {
			bin = old.Bin
		}
		nb = Bag{ID: w.newID(), Bin: bin, OpenedAt: ex.At, TareMg: ex.NewTareMg}
		if err := insertBag(ctx, tx, nb); err != nil {
			return err
		}
		r, err := record(w, envelope.KindBagReplacement, ex.At, ex.RvmID, rep)
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
	return rep, nb, err
}

func bagReport(ctx context.Context, tx *sql.Tx, b Bag, ex Exchange) (drsapi.BagReplacement, error) {
	rep := drsapi.BagReplacement{
		BagID: b.ID, RvmID: ex.RvmID, BinNo: ex.Bin, SealNumber: ex.Seal, LockingPersonID: ex.Staff,
		ReplacementDate: drsTime(ex.At), BagWeight: math.Round(float64(ex.MeasuredG)) / 1000,
		RelatedTransactionsIDs: []string{}, Containers: []drsapi.ContainerFull{},
	}
	if rep.BinNo == 0 {
		rep.BinNo = b.Bin
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT ean, count(*), min(id) FROM containers WHERE bag_id = ? AND state = ? GROUP BY ean ORDER BY min(id)`, b.ID, Credited)
	if err != nil {
		return rep, fmt.Errorf("ledger: bag contents: %w", err)
	}
	for rows.Next() {
		var c drsapi.ContainerFull
		var first int64
		if err := rows.Scan(&c.EAN, &c.Count, &first); err != nil {
			rows.Close()
			return rep, fmt.Errorf("ledger: bag contents: %w", err)
		}
		rep.Containers = append(rep.Containers, c)
		rep.ContainerAmount += c.Count
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx,
		`SELECT session_id FROM containers WHERE bag_id = ? AND state = ? GROUP BY session_id ORDER BY min(id)`, b.ID, Credited)
	if err != nil {
		return rep, fmt.Errorf("ledger: bag transactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return rep, fmt.Errorf("ledger: bag transactions: %w", err)
		}
		rep.RelatedTransactionsIDs = append(rep.RelatedTransactionsIDs, id)
	}
	return rep, rows.Err()
}

func sealFree(ctx context.Context, tx *sql.Tx, seal string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM seals WHERE number = ?`, seal).Scan(&one)
	if err == nil {
		return fmt.Errorf("%w: %s", ErrSealUsed, seal)
	}
	if err != sql.ErrNoRows {
		return fmt.Errorf("ledger: seal lookup: %w", err)
	}
	return nil
}

// ReplaceSeal records that a damaged seal was replaced by a new one on the
// same bag, and appends a bag-seal report for the new seal.
func (l *Ledger) ReplaceSeal(ctx context.Context, old, seal, staff string, at time.Time, rvmID string) (drsapi.BagSeal, error) {
	var bs drsapi.BagSeal
	err := l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		var bagID string
		var oldStaff sql.NullString
		var replaced sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT bag_id, staff, replaced_by FROM seals WHERE number = ?`, old).Scan(&bagID, &oldStaff, &replaced)
		if err == sql.ErrNoRows {
			return fmt.Errorf("%w: %s", ErrNoSeal, old)
		}
		if err != nil {
			return fmt.Errorf("ledger: seal lookup: %w", err)
		}
		if replaced.Valid && replaced.String != "" {
			return fmt.Errorf("ledger: seal %s was already replaced by %s", old, replaced.String)
		}
		if err := sealFree(ctx, tx, seal); err != nil {
			return err
		}
		if staff == "" {
			staff = oldStaff.String
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO seals (number, bag_id, sealed_at, staff) VALUES (?, ?, ?, ?)`,
			seal, bagID, ts(at), staff); err != nil {
			return fmt.Errorf("ledger: seal: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE seals SET replaced_by = ? WHERE number = ?`, seal, old); err != nil {
			return fmt.Errorf("ledger: seal: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bags SET seal = ? WHERE id = ?`, seal, bagID); err != nil {
			return fmt.Errorf("ledger: seal: %w", err)
		}
		bs = drsapi.BagSeal{LockingPersonID: staff, SealNumber: seal, BagID: bagID, SealTime: drsTime(at)}
		r, err := record(w, envelope.KindBagSeal, at, rvmID, bs)
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
	return bs, err
}

// RaiseFault latches a fault and appends a fault event. A fault already
// latched is not raised again.
func (l *Ledger) RaiseFault(ctx context.Context, kind string, at time.Time, rvmID string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM faults WHERE cleared_at IS NULL`).Scan(&n); err != nil {
			return fmt.Errorf("ledger: faults: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO faults (kind, raised_at) VALUES (?, ?)`, kind, ts(at)); err != nil {
			return fmt.Errorf("ledger: raise fault: %w", err)
		}
		r, err := record(w, envelope.KindFault, at, rvmID, envelope.FaultEvent{Fault: kind, Latched: true})
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
}

// ClearFault clears the latched fault (a technician's act).
func (l *Ledger) ClearFault(ctx context.Context, by string, at time.Time, rvmID string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		var kind string
		err := tx.QueryRowContext(ctx, `SELECT kind FROM faults WHERE cleared_at IS NULL ORDER BY id LIMIT 1`).Scan(&kind)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ledger: faults: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE faults SET cleared_at = ?, cleared_by = ? WHERE cleared_at IS NULL`, ts(at), by); err != nil {
			return fmt.Errorf("ledger: clear fault: %w", err)
		}
		r, err := record(w, envelope.KindFault, at, rvmID, envelope.FaultEvent{Fault: kind, Latched: false, By: by})
		if err != nil {
			return err
		}
		return w.append(ctx, tx, r)
	})
}

// Cal is a stored load-cell calibration.
type Cal struct {
	Offset       int32
	CountsPerKg  int64
	ResolutionMg int64
	At           time.Time
	By           string
}

// SetCalibration stores a new calibration for a cell; older ones stay as
// the audit trail.
func (l *Ledger) SetCalibration(ctx context.Context, cell string, c Cal, note string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO calibrations (cell, offset_counts, counts_per_kg, resolution_mg, at, by, note) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			cell, c.Offset, c.CountsPerKg, c.ResolutionMg, ts(c.At), c.By, note)
		if err != nil {
			return fmt.Errorf("ledger: calibration %s: %w", cell, err)
		}
		return nil
	})
}

// Calibration returns a cell's current calibration.
func (l *Ledger) Calibration(ctx context.Context, cell string) (Cal, bool, error) {
	var c Cal
	var at string
	err := l.db.QueryRowContext(ctx,
		`SELECT offset_counts, counts_per_kg, resolution_mg, at, by FROM calibrations WHERE cell = ? ORDER BY n DESC LIMIT 1`, cell).
		Scan(&c.Offset, &c.CountsPerKg, &c.ResolutionMg, &at, &c.By)
	if err == sql.ErrNoRows {
		return Cal{}, false, nil
	}
	if err != nil {
		return Cal{}, false, fmt.Errorf("ledger: calibration %s: %w", cell, err)
	}
	c.At = parseTS(at)
	return c, true, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// SealUsed reports whether this machine already used a seal number.
func (l *Ledger) SealUsed(ctx context.Context, seal string) (bool, error) {
	var one int
	err := l.db.QueryRowContext(ctx, `SELECT 1 FROM seals WHERE number = ?`, seal).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: seal lookup: %w", err)
	}
	return true, nil
}
