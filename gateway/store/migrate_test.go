package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// openRaw opens the database a DSN names without the store, for setting up
// what an older gateway left behind.
func openRaw(t *testing.T, dsn string) (*sql.DB, bool) {
	t.Helper()
	pg := store.IsPostgres(dsn)
	driver, src := "sqlite3", "file:"+dsn
	if pg {
		driver, src = "pgx", dsn
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	return db, pg
}

// eachDSN runs f with a fresh SQLite path and, when RVM_TEST_POSTGRES is
// set, a fresh PostgreSQL schema.
func eachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "gw.db")) })
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresDSN(t)
		if dsn == "" {
			t.Skip("RVM_TEST_POSTGRES not set")
		}
		f(t, dsn)
	})
}

func schemaVersion(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var v int64
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	return v
}

// An upgrade over a gateway whose store release 0.1 made (its schema is
// migration 1, run here by hand as that release did, with an event and a
// voucher in it) migrates and keeps every row.
func TestMigrateReleaseStore(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, pg := openRaw(t, dsn)
		raw, err := os.ReadFile("migrations/0001_release_0_1.sql")
		if err != nil {
			t.Fatal(err)
		}
		types := strings.NewReplacer("{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{blob}}", "BLOB")
		if pg {
			types = strings.NewReplacer("{{id}}", "BIGSERIAL PRIMARY KEY", "{{blob}}", "BYTEA")
		}
		for _, stmt := range strings.Split(types.Replace(string(raw)), ";") {
			if strings.TrimSpace(strings.Join(nonComment(stmt), "")) == "" {
				continue
			}
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("release 0.1 schema: %v", err)
			}
		}
		for _, q := range []string{
			`INSERT INTO events (id, machine, seq, kind, body, received_at, state) VALUES ('e1', 'M-A', 1, 'transaction', '{}', 1, 'delivered')`,
			`INSERT INTO vouchers (code, machine, amount, has_amount, currency) VALUES ('2000000000015', 'M-A', 150, 1, 'PLN')`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()

		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open(release 0.1 store) = %v", err)
		}
		st.Close()
		db, _ = openRaw(t, dsn)
		defer db.Close()
		for table, want := range map[string]int{"events": 1, "vouchers": 1, "bindings": 0} {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != want {
				t.Errorf("%s rows after migration = %d (%v); want %d", table, n, err, want)
			}
		}
		if got := schemaVersion(t, db); got != store.SchemaVersion() {
			t.Errorf("schema version = %d; want %d", got, store.SchemaVersion())
		}
	})
}

// A gateway older than its database's schema refuses to start and says so.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		db, pg := openRaw(t, dsn)
		q := `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)`
		if pg {
			q = `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`
		}
		if _, err := db.Exec(q, store.SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = store.Open(ctx, dsn)
		if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version") {
			t.Fatalf("Open(newer store) = %v; want ErrSchemaTooNew naming the version", err)
		}
	})
}

func nonComment(stmt string) []string {
	var out []string
	for _, l := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return out
}
