package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Errors the ledger reports.
var (
	ErrCorrupt  = errors.New("ledger: database file is corrupt or not a ledger")
	ErrSealUsed = errors.New("ledger: seal number already used by this machine")
	ErrNoSeal   = errors.New("ledger: seal number unknown to this machine")
)

// Container states.
const (
	InTransit = 1 // accepted, on its way to the bag, not yet confirmed
	Credited  = 2 // in the bag, its deposit owed to the customer
	Rejected  = 3 // handed back (any cause > 0)
)

// Ledger is the SQLite ledger. See the package documentation.
type Ledger struct {
	db   *sql.DB // Immutable.
	path string  // Immutable.

	mu   sync.Mutex // guards hook
	hook func([]outbox.Record)

	idMu    sync.Mutex // guards ids
	idSeed  [8]byte
	idCount uint64
}

// Open opens (creating if needed) the ledger at path.
func Open(path string) (*Ledger, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("ledger: %s is a directory", path)
	}
	dsn := "file:" + uriPath(path) + "?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000&_foreign_keys=on"
	registerDriver.Do(func() {
		sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
			return conn.RegisterFunc("container_event_id", ContainerEventID, true)
		}})
	})
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	l := &Ledger{db: db, path: path}
	if err := l.init(); err != nil {
		db.Close()
		if p := openProblem(path); p != nil && !errors.Is(err, ErrCorrupt) {
			return nil, p
		}
		return nil, err
	}
	return l, nil
}

// driverName is go-sqlite3 with the ledger's SQL functions on every
// connection (the container trigger needs ContainerEventID).
const driverName = "sqlite3-rvm-ledger"

var registerDriver sync.Once

// containerNS is the namespace of the container events' name-based ids.
var containerNS = uuid.MustParse("5b0e6f3c-8f7d-4c2a-9a51-3d2e7c40b1a9")

// ContainerEventID is the event id of the container event for container
// number id of transaction sessionID: the UUID version 5 (SHA-1, name-based)
// of "<sessionID>-c<id>" in the ledger's container namespace
// (5b0e6f3c-8f7d-4c2a-9a51-3d2e7c40b1a9). The same container gets the same
// id on every run, so the outputs stay deterministic and every event id is a
// UUID (docs/interfaces.md, "Envelope").
func ContainerEventID(sessionID string, id int64) string {
	return uuid.NewSHA1(containerNS, []byte(sessionID+"-c"+strconv.FormatInt(id, 10))).String()
}

// uriPath escapes the characters a SQLite file: URI gives a meaning to.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func (l *Ledger) init() error {
	ctx := context.Background()
	var check string
	if err := l.db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return l.wrapOpen(err)
	}
	if check != "ok" {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, l.path, check)
	}
	// The outbox first: the ledger's triggers write into it.
	if err := outbox.Init(ctx, l.db); err != nil {
		return l.wrapOpen(err)
	}
	if err := l.migrate(ctx); err != nil {
		return err
	}
	seed, ok, err := l.Meta(ctx, "id_seed")
	if err != nil {
		return err
	}
	if ok {
		v, err := strconv.ParseUint(seed, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %s: id_seed %q", ErrCorrupt, l.path, seed)
		}
		binary.BigEndian.PutUint64(l.idSeed[:], v)
	}
	cnt, _, err := l.Meta(ctx, "id_count")
	if err != nil {
		return err
	}
	if cnt != "" {
		l.idCount, _ = strconv.ParseUint(cnt, 10, 64)
	}
	return nil
}

func (l *Ledger) wrapOpen(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, l.path, err)
	}
	return fmt.Errorf("ledger: %s: %w", l.path, err)
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

// DB returns the underlying database, for the outbox publisher.
func (l *Ledger) DB() *sql.DB { return l.db }

// Path is the database file's path.
func (l *Ledger) Path() string { return l.path }

// SetHook sets a function called after every commit that appended outbox
// records, with those records in sequence order. It must not block.
func (l *Ledger) SetHook(f func([]outbox.Record)) {
	l.mu.Lock()
	l.hook = f
	l.mu.Unlock()
}

// SeedIDs fixes the seed of the id generator if none is set yet. Ids are
// derived from the seed and a counter kept in the ledger, so that the same
// seed gives the same ids and a restart never repeats one.
func (l *Ledger) SeedIDs(ctx context.Context, seed uint64) error {
	_, ok, err := l.Meta(ctx, "id_seed")
	if err != nil || ok {
		return err
	}
	if err := l.SetMeta(ctx, "id_seed", strconv.FormatUint(seed, 10)); err != nil {
		return err
	}
	l.idMu.Lock()
	binary.BigEndian.PutUint64(l.idSeed[:], seed)
	l.idMu.Unlock()
	return nil
}

// Meta returns a meta value.
func (l *Ledger) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := l.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, l.wrapOpen(err)
	}
	return v, true, nil
}

// SetMeta sets a meta value durably.
func (l *Ledger) SetMeta(ctx context.Context, key, value string) error {
	return l.write(ctx, func(ctx context.Context, tx *sql.Tx, w *writer) error { return setMeta(ctx, tx, key, value) })
}

func setMeta(ctx context.Context, tx *sql.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, key, value)
	if err != nil {
		return fmt.Errorf("ledger: set %s: %w", key, err)
	}
	return nil
}

// writer collects what one transaction appends to the outbox and the ids it
// draws.
type writer struct {
	l       *Ledger
	records []outbox.Record
	ids     uint64
}

// newID draws the next id (UUID version 4 layout) from the ledger's seeded
// sequence; the counter is persisted by the same transaction.
func (w *writer) newID() string {
	w.l.idMu.Lock()
	n := w.l.idCount + w.ids + 1
	seed := w.l.idSeed
	w.l.idMu.Unlock()
	w.ids++
	var buf [16]byte
	copy(buf[:8], seed[:])
	binary.BigEndian.PutUint64(buf[8:], n)
	return HashUUID(buf[:])
}

// HashUUID derives a UUID (version 4 layout) from data: the same data give
// the same id, on every run and architecture.
func HashUUID(data []byte) string {
	h := sha256.Sum256(data)
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hx[c>>4], hx[c&15]
		j += 2
	}
	return string(out)
}

// digits draws n decimal digits from the id sequence.
func (w *writer) digits(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		for _, c := range w.newID() {
			if c >= '0' && c <= '9' && sb.Len() < n {
				sb.WriteRune(c)
			}
		}
	}
	return sb.String()
}

func (w *writer) append(ctx context.Context, tx *sql.Tx, r outbox.Record) error {
	seq, err := outbox.Append(ctx, tx, r)
	if err != nil {
		return err
	}
	r.Seq = seq
	w.records = append(w.records, r)
	return nil
}

// write runs f in one IMMEDIATE transaction and commits it durably; then it
// advances the id counter and calls the hook with the appended records.
func (l *Ledger) write(ctx context.Context, f func(ctx context.Context, tx *sql.Tx, w *writer) error) error {
	// A fact is recorded whole even when the caller's context ends: the
	// container is already on its way to the bag, the customer already saw
	// the session end. Without cancellation database/sql also spares a
	// watcher per transaction.
	ctx = context.WithoutCancel(ctx)
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: begin: %w", err)
	}
	w := &writer{l: l}
	if err := f(ctx, tx, w); err != nil {
		tx.Rollback()
		return err
	}
	if w.ids > 0 {
		l.idMu.Lock()
		next := l.idCount + w.ids
		l.idMu.Unlock()
		if err := setMeta(ctx, tx, "id_count", strconv.FormatUint(next, 10)); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: commit: %w", err)
	}
	if w.ids > 0 {
		l.idMu.Lock()
		l.idCount += w.ids
		l.idMu.Unlock()
	}
	if len(w.records) > 0 {
		l.mu.Lock()
		h := l.hook
		l.mu.Unlock()
		if h != nil {
			h(w.records)
		}
	}
	return nil
}

// Record is an outbox record whose id the ledger draws when ID is empty.
func record(w *writer, kind string, ts time.Time, rvmID string, body any) (outbox.Record, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return outbox.Record{}, fmt.Errorf("ledger: encode %s: %w", kind, err)
	}
	return outbox.Record{ID: w.newID(), Kind: kind, TS: ts, RvmID: rvmID, Body: b}, nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
