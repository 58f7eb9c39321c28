package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// Station is a manual collection point.
type Station struct {
	Name       string
	Store      string
	RvmID      string
	Registered bool
}

// Serial is the name a station goes by among the machines.
func (st Station) Serial() string { return "STATION-" + st.Name }

// PutStation records a station under its name, keeping the rvmId chosen
// the first time (so that registering again after a failure updates the
// same machine at the operator), and returns it.
func (s *Store) PutStation(ctx context.Context, st Station, now time.Time) (Station, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO stations(name, store, rvm_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET store = excluded.store`), st.Name, st.Store, st.RvmID, ms(now)); err != nil {
		return st, fmt.Errorf("store: station %s: %w", st.Name, err)
	}
	return s.Station(ctx, st.Name)
}

// StationRegistered marks a station accepted by the operator.
func (s *Store) StationRegistered(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE stations SET registered = 1 WHERE name = ?`), name); err != nil {
		return fmt.Errorf("store: station %s: %w", name, err)
	}
	return nil
}

// Station returns one station.
func (s *Store) Station(ctx context.Context, name string) (Station, error) {
	st := Station{Name: name}
	var reg int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT store, rvm_id, registered FROM stations WHERE name = ?`), name).Scan(&st.Store, &st.RvmID, &reg)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: station %s", ErrNotFound, name)
	}
	if err != nil {
		return st, fmt.Errorf("store: station %s: %w", name, err)
	}
	st.Registered = reg == 1
	return st, nil
}

// Product returns the catalogue's entry for ean, or [ErrNotFound].
func (s *Store) Product(ctx context.Context, ean string) (Product, error) {
	var body string
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT body FROM products WHERE ean = ? AND removed = 0`), ean).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, fmt.Errorf("%w: product %s", ErrNotFound, ean)
	}
	if err != nil {
		return Product{}, fmt.Errorf("store: product %s: %w", ean, err)
	}
	return Product{EAN: ean, Body: []byte(body)}, nil
}

// NextStationSeq counts a station's events: the seq of its next one.
func (s *Store) NextStationSeq(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE stations SET seq = seq + 1 WHERE name = ?`), name); err != nil {
			return fmt.Errorf("store: station %s: %w", name, err)
		}
		return tx.QueryRowContext(ctx, s.q(`SELECT seq FROM stations WHERE name = ?`), name).Scan(&seq)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: station %s", ErrNotFound, name)
	}
	return seq, err
}

// AuditReturn writes a return taken at a station to the audit trail.
func (s *Store) AuditReturn(ctx context.Context, a Actor, station, txID string, amount money.Grosze, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.audit(ctx, tx, a, now, "return", "station "+station, amount, "transaction "+txID)
	})
}
