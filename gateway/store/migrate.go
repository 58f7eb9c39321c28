package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationFiles are the store's schema versions, one numbered file each,
// written once for both databases: {{id}} and {{blob}} stand for the two
// types SQLite and PostgreSQL spell differently. A released file is never
// edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Open for a database written by a newer
// gateway: an older one could misread the money it holds.
var ErrSchemaTooNew = errors.New("store: schema is newer than this gateway")

// SchemaVersion is the newest store schema this build knows.
func SchemaVersion() int64 {
	ms, _ := migrationSet(false)
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// migrationSet turns the files into goose migrations for one database.
func migrationSet(pg bool) ([]*goose.Migration, error) {
	types := strings.NewReplacer("{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{blob}}", "BLOB")
	if pg {
		types = strings.NewReplacer("{{id}}", "BIGSERIAL PRIMARY KEY", "{{blob}}", "BYTEA")
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []*goose.Migration
	for _, name := range names {
		num, _, _ := strings.Cut(path.Base(name), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: no version number", name)
		}
		raw, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ddl := types.Replace(string(raw))
		ms = append(ms, goose.NewGoMigration(v, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, stmt := range strings.Split(ddl, ";") {
				if strings.TrimSpace(stripComments(stmt)) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", path.Base(name), err)
				}
			}
			return nil
		}}, nil))
	}
	return ms, nil
}

func stripComments(stmt string) string {
	var b strings.Builder
	for _, line := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// migrate brings the database to SchemaVersion, each step in its own
// transaction, and refuses a database whose version is newer. On
// PostgreSQL, replicas starting together take turns under a session lock.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrationSet(s.pg)
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithGoMigrations(ms...), goose.WithDisableGlobalRegistry(true)}
	if s.pg {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.db, nil, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	cur, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	if cur > target {
		return fmt.Errorf("%w: the database is at schema version %d, this gateway knows up to %d: run the newer gateway (nothing was changed)", ErrSchemaTooNew, cur, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate from version %d to %d: %w", cur, target, err)
	}
	return nil
}
