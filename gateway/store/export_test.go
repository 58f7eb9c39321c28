package store

import (
	"context"
	"database/sql"
)

// MachineByKey is the query behind Store.Machine, for its query plan test.
var MachineByKey = machineByKey

// RunSpan is the query behind PendingRun's counts, for its query plan test.
func RunSpan(s *Store) string { return s.runSpan() }

// Reader is the store's reading connection pool.
func Reader(s *Store) *sql.DB { return s.rd }

// WriterPragma reads a pragma on the SQLite writer's connection.
func WriterPragma(s *Store, name string) (string, error) {
	var v string
	err := s.db.QueryRow("PRAGMA " + name).Scan(&v)
	return v, err
}

// ReaderPragma reads a pragma on one of the SQLite readers' connections.
func ReaderPragma(s *Store, name string) (string, error) {
	var v string
	err := s.rd.QueryRow("PRAGMA " + name).Scan(&v)
	return v, err
}

// PutVoucherAlways writes v as PutVoucher would, without first looking
// whether it adds anything.
func PutVoucherAlways(ctx context.Context, s *Store, v Voucher) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.upsertVoucher(ctx, tx, v) })
}
