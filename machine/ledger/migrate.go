package ledger

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// migrations are the ledger's schema versions, applied in order at Open.
// A new table or column is a new numbered file; a released file is never
// edited, because ledgers in the field have already run it.
//
//go:embed migrations/*.sql
var migrations embed.FS

// ErrSchemaTooNew is returned by Open for a ledger written by a newer rvmd:
// running an older binary on it could misread the money it holds.
var ErrSchemaTooNew = errors.New("ledger: schema is newer than this rvmd")

// SchemaVersion is the newest ledger schema this build knows: the number
// of the last embedded migration file.
func SchemaVersion() int64 {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	var v int64
	for _, n := range names {
		base := path.Base(n)
		num, _, _ := strings.Cut(base, "_")
		if x, err := strconv.ParseInt(num, 10, 64); err == nil && x > v {
			v = x
		}
	}
	return v
}

func provider(l *Ledger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, l.db, sub, goose.WithDisableGlobalRegistry(true))
}

// migrate brings the ledger to SchemaVersion, each step in its own
// transaction, and refuses a ledger whose version is newer than that.
func (l *Ledger) migrate(ctx context.Context) error {
	p, err := provider(l)
	if err != nil {
		return fmt.Errorf("ledger: migrations: %w", err)
	}
	cur, target, err := p.GetVersions(ctx)
	if err != nil {
		return l.wrapOpen(err)
	}
	if cur > target {
		return fmt.Errorf("%w: %s is at schema version %d, this rvmd knows up to %d: install the newer rvmd again (the ledger is untouched)", ErrSchemaTooNew, l.path, cur, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return l.wrapOpen(fmt.Errorf("migrate from version %d to %d: %w", cur, target, err))
	}
	return nil
}
