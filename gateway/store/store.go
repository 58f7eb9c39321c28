package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/internal/clock"
)

// Sentinel errors.
var (
	// ErrNotFound: no such event, failure, voucher, machine or transaction.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyRedeemed: the voucher was redeemed, or a till is redeeming it now.
	ErrAlreadyRedeemed = errors.New("store: voucher already redeemed")
	// ErrExpired: the voucher's validity ended.
	ErrExpired = errors.New("store: voucher expired")
	// ErrBlocked: the operator blocked the voucher's transaction from payment.
	ErrBlocked = errors.New("store: transaction blocked by the operator")
)

// Store is the gateway's database. It is safe for concurrent use.
type Store struct {
	// Immutable.
	db *sql.DB // writes (and reads inside transactions)
	rd *sql.DB // reads outside transactions: a pool of its own on SQLite
	pg bool
	// clk times the retries of a transaction, the fleet counters' flush
	// and stamps the bindings.
	clk clock.Clock

	bindMu sync.Mutex
	bound  map[string]string // serial -> rvmId, a cache of bindings; guarded by bindMu

	tallyMu   sync.Mutex
	pending   *tally    // fleet counters not yet written; guarded by tallyMu
	flushedAt time.Time // guarded by tallyMu
}

// IsPostgres reports whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Option configures Open.
type Option func(*Store)

// WithClock makes the store see time through clk (clock.Real if nil, and
// without the option).
func WithClock(clk clock.Clock) Option {
	return func(s *Store) {
		if clk != nil {
			s.clk = clk
		}
	}
}

// Open opens (creating if needed) the database dsn names and brings its
// schema up to date.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("store: no database given")
	}
	s := &Store{pg: IsPostgres(dsn), pending: newTally(), bound: map[string]string{}, clk: clock.Real{}}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.pg {
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(16)
			s.db.SetMaxIdleConns(16)
		}
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		// The writer's page cache (256 MiB at most, in the process's own
		// memory) holds the indexes that every stored event touches at a
		// random place (id, machine and seq): once a fleet's database
		// outgrows it, each insert waits on a read of a page the kernel
		// may have dropped (BENCHMARKS.md).
		s.db, err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000&_foreign_keys=on&_stmt_cache_size=128&_cache_size=-262144")
		if err == nil {
			// One connection: SQLite has one writer anyway, and a second
			// connection would only turn contention into SQLITE_BUSY.
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	s.rd = s.db
	if !s.pg {
		// WAL lets readers run beside the one writer: the forwarder's and
		// the API's reads need not queue behind the consumer's commits.
		path := strings.TrimPrefix(dsn, "sqlite://")
		// Each reader keeps up to 32 MiB of pages, which the forwarder's
		// reads (the pending index, the vouchers) come back to. SQLite
		// empties a reader's cache when another connection has committed
		// since its last read, so this pays only while the writer is
		// quiet; through a release every read fetches its pages again.
		// Mapping the file instead (PRAGMA mmap_size) was slower still:
		// SQLite unmaps it on each such commit (BENCHMARKS.md).
		s.rd, err = sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000&_stmt_cache_size=64&_cache_size=-32768")
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("store: open reader: %w", err)
		}
		// As many kept open as may be: a reader closed and opened again
		// reads the schema again.
		s.rd.SetMaxOpenConns(4)
		s.rd.SetMaxIdleConns(4)
	}
	return s, nil
}

// Close writes the held-back fleet counters and closes the database.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ferr := s.Flush(ctx)
	if s.rd != s.db {
		s.rd.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return ferr
}

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// pendingIndex names the partial index of pending events for SQLite, whose
// planner otherwise prefers (machine, seq) over all events and walks a
// machine's whole history to find its few pending ones.
func (s *Store) pendingIndex() string {
	if s.pg {
		return ""
	}
	return " INDEXED BY events_pending"
}

// q rebinds a query written with ? placeholders for the store's database.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// tx runs fn in a transaction, again when the database reports a deadlock,
// a serialization failure or a busy file: those say "try again", and the
// transaction had no effect. Its commit is on disk when tx returns.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.retry(ctx, func() error { return s.tryTx(ctx, fn) })
}

// txLazy is tx for bookkeeping that a crash may lose without harm: its
// commit does not wait for the disk. The forwarder's leases and delivery
// records are such: a lost lease expires, and a lost delivery record sends
// the event again, which the operator answers with 409, recorded as
// delivered. After an outage they were nine commits of every ten, each an
// fsync the one writer waited for.
//
// What a lazy commit wrote is lost only with the commits after it up to the
// next durable one: SQLite's WAL and PostgreSQL's log are written in order,
// so a durable commit (every other one) makes all before it durable too.
func (s *Store) txLazy(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.pg {
		return s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return fmt.Errorf("store: lazy commit: %w", err)
			}
			return fn(tx)
		})
	}
	return s.retry(ctx, func() error { return s.tryLazySQLite(ctx, fn) })
}

// retry runs try again while it fails transiently, at most eight times.
func (s *Store) retry(ctx context.Context, try func() error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		err = try()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if clock.Sleep(ctx, s.clk, time.Duration(attempt+1)*5*time.Millisecond) != nil {
			return err
		}
	}
	return err
}

func (s *Store) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return commit(tx, fn)
}

// tryLazySQLite runs fn in a transaction of the writer's connection with
// synchronous NORMAL (a WAL commit without fsync), and sets it back to FULL
// after: SQLite refuses to change it inside a transaction. A connection
// that cannot be set back is discarded, and its replacement opens with
// FULL.
func (s *Store) tryLazySQLite(ctx context.Context, fn func(*sql.Tx) error) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connection: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return fmt.Errorf("store: lazy commit: %w", err)
	}
	defer func() {
		if _, err := c.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
			_ = c.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return commit(tx, fn)
}

// commit runs fn in tx and commits, or rolls back when fn fails.
func commit(tx *sql.Tx, fn func(*sql.Tx) error) error {
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func transient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001"
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// KV returns a named value ("" when unset).
func (s *Store) KV(ctx context.Context, name string) (string, error) {
	var v string
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT value FROM kv WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read %s: %w", name, err)
	}
	return v, nil
}

// SetKV sets a named value.
func (s *Store) SetKV(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO kv(name, value) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET value = excluded.value`), name, value)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	return nil
}

// TryLease takes or renews the lease called name for owner until now+d,
// and reports whether owner holds it. Replicas use it to elect the one that
// runs a periodic job (catalogue sync, voucher top-up, purge).
func (s *Store) TryLease(ctx context.Context, name, owner string, now time.Time, d time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO kv(name, owner, until) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE kv.owner = excluded.owner OR kv.until <= ?`),
		"lease:"+name, owner, ms(now.Add(d)), ms(now))
	if err != nil {
		return false, fmt.Errorf("store: lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
