package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
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

// An upgrade from the schema before gateway confirmations (version 5):
// the ledger keeps its records, what the broker had acknowledged stays
// sent, and nothing counts as confirmed by the gateway: the sent records
// are the ones to send again once the gateway confirms later ones, and no
// record is deleted before it confirms. The release-0.1 file migrates the
// same way.
func TestMigrateOutboxConfirmations(t *testing.T) {
	ctx := context.Background()
	previous := func(t *testing.T) string {
		// A ledger as version 5 left it: eight records, the first five
		// acknowledged by the broker, no confirmation tables.
		path := filepath.Join(t.TempDir(), "ledger.db")
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if err := l.AppendEvent(ctx, "test", time.Now(), "", map[string]int{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{
			`DROP TABLE outbox_confirmed`, `DROP TABLE outbox_confirm_ranges`,
			`DELETE FROM goose_db_version WHERE version_id = 6`,
		} {
			if _, err := l.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := outbox.Ack(ctx, l.DB(), 1, 2, 3, 4, 5); err != nil {
			t.Fatal(err)
		}
		if got := version(t, l); got != 5 {
			t.Fatalf("the previous ledger is at version %d; want 5", got)
		}
		l.Close()
		return path
	}
	release := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "ledger.db")
		copyFile(t, "testdata/release-0.1.db", path)
		return path
	}
	tests := []struct {
		name       string
		ledger     func(*testing.T) string
		records    int64
		wantDepth  int64  // not yet at the broker
		wantResend string // sent, unconfirmed: sent again once the gateway confirms later ones
	}{
		{"version 5", previous, 8, 3, "[1 2 3 4 5]"},
		{"release 0.1", release, 19, 19, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.ledger(t))
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer l.Close()
			db := l.DB()
			if got := version(t, l); got != SchemaVersion() {
				t.Errorf("migrated ledger at version %d; want %d", got, SchemaVersion())
			}
			if got := count(t, l, "outbox"); got != int(tt.records) {
				t.Errorf("outbox rows after migration = %d; want %d", got, tt.records)
			}
			c, err := outbox.Confirmations(ctx, db)
			if err != nil || c != (outbox.Confirmation{Unconfirmed: tt.records}) {
				t.Errorf("Confirmations() = %+v, %v; want all %d records unconfirmed", c, err, tt.records)
			}
			if rows, _, err := outbox.Depth(ctx, db); err != nil || rows != tt.wantDepth {
				t.Errorf("Depth = %d, %v; want %d", rows, err, tt.wantDepth)
			}
			recs, err := outbox.Unconfirmed(ctx, db, 0, tt.records+1, 100)
			var seqs []int64
			for _, r := range recs {
				seqs = append(seqs, r.Seq)
			}
			if err != nil || fmt.Sprint(seqs) != tt.wantResend {
				t.Errorf("Unconfirmed = %v, %v; want %s", seqs, err, tt.wantResend)
			}
			// Sent but not confirmed: nothing goes.
			all := make([]int64, tt.records)
			for i := range all {
				all[i] = int64(i + 1)
			}
			if err := outbox.Ack(ctx, db, all...); err != nil {
				t.Fatal(err)
			}
			if n, err := outbox.Sweep(ctx, db, 1000); n != 0 || err != nil {
				t.Errorf("Sweep before any confirmation = %d, %v; want 0", n, err)
			}
			if err := outbox.Confirm(ctx, db, []outbox.Range{{From: 1, To: tt.records}}); err != nil {
				t.Fatal(err)
			}
			if n, err := outbox.Sweep(ctx, db, 1000); n != tt.records || err != nil {
				t.Errorf("Sweep once all confirmed = %d, %v; want %d", n, err, tt.records)
			}
		})
	}
}
