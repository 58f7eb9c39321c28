package ledger

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func count(t *testing.T, l *Ledger, table string) int {
	t.Helper()
	var n int
	if err := l.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func version(t *testing.T, l *Ledger) int64 {
	t.Helper()
	var v int64
	if err := l.DB().QueryRow(`SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	return v
}

func TestSchemaVersionKnown(t *testing.T) {
	if SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion() = %d; want >= 1", SchemaVersion())
	}
}

func TestMigrateFresh(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := version(t, l); got != SchemaVersion() {
		t.Errorf("fresh ledger at version %d; want %d", got, SchemaVersion())
	}
}

// An upgrade over a machine with a full ledger: the file release 0.1 wrote
// (testdata/release-0.1.db, made by `rvmd simulate` on the mixed scenario
// before migrations existed) opens, migrates, and keeps every row.
func TestMigrateReleaseLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	copyFile(t, "testdata/release-0.1.db", path)
	want := map[string]int{"sessions": 4, "containers": 11, "outbox": 19}
	l, err := Open(path)
	if err != nil {
		t.Fatalf("Open(release 0.1 ledger) = %v", err)
	}
	for table, n := range want {
		if got := count(t, l, table); got != n {
			t.Errorf("%s rows after migration = %d; want %d", table, got, n)
		}
	}
	if got := version(t, l); got != SchemaVersion() {
		t.Errorf("migrated ledger at version %d; want %d", got, SchemaVersion())
	}
	tot, err := l.Totals(context.Background())
	if err != nil {
		t.Errorf("Totals after migration: %v", err)
	}
	if tot.Credited != 6 || tot.Vouchers != 4 || tot.OpenSessions != 0 {
		t.Errorf("Totals after migration = %+v; want the release's 6 credited, 4 vouchers, no open session", tot)
	}
	l.Close()
	// Opening again is a no-op.
	l, err = Open(path)
	if err != nil {
		t.Fatalf("second Open = %v", err)
	}
	l.Close()
}

// A binary older than the ledger's schema refuses to start and says so.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	next := SchemaVersion() + 1
	if _, err := l.DB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, next); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, err = Open(path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open(newer ledger) = %v; want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, "schema version", "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
