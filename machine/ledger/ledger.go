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

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Errors the ledger reports.
var (
	ErrCorrupt  = errors.New("ledger: database file is corrupt or not a ledger")
	ErrSealUsed = errors.New("ledger: seal number already used by this machine")
	ErrNoSeal   = errors.New("ledger: seal number unknown to this machine")
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	rvm_id      TEXT NOT NULL,
	bag_id      TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	ended_at    TEXT,
	payout      TEXT,
	phone       TEXT,
	voucher_id  TEXT,
	amount      INTEGER,
	body        BLOB
);
CREATE TABLE IF NOT EXISTS containers (
	id          INTEGER PRIMARY KEY,
	session_id  TEXT NOT NULL REFERENCES sessions(id),
	bag_id      TEXT NOT NULL,
	ean         TEXT NOT NULL,
	cause       INTEGER NOT NULL,
	weight_mg   INTEGER NOT NULL,
	deposit     INTEGER NOT NULL,
	state       INTEGER NOT NULL,
	decided_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_session ON containers(session_id);
CREATE INDEX IF NOT EXISTS containers_bag ON containers(bag_id, state);
-- The "container" event is written by the database in the same statement
-- as the container: one round trip a container, and the two can never
-- disagree.
CREATE TRIGGER IF NOT EXISTS container_event AFTER INSERT ON containers BEGIN
	INSERT INTO outbox (seq, id, kind, ts, rvm_id, body) VALUES (
		(SELECT seq + 1 FROM outbox_counter WHERE one = 1),
		NEW.session_id || '-c' || NEW.id, 'container', NEW.decided_at,
		(SELECT rvm_id FROM sessions WHERE id = NEW.session_id),
		json_object('transactionId', NEW.session_id, 'ean', NEW.ean, 'rejectionCauseCode', NEW.cause,
			'weightMg', NEW.weight_mg, 'depositGrosze', NEW.deposit));
END;
CREATE TABLE IF NOT EXISTS vouchers (
	id             TEXT PRIMARY KEY,
	transaction_id TEXT NOT NULL UNIQUE,
	amount         INTEGER NOT NULL,
	print_type     INTEGER NOT NULL,
	issued_at      TEXT NOT NULL,
	valid_until    TEXT NOT NULL,
	source         TEXT NOT NULL,
	phone          TEXT
);
CREATE TABLE IF NOT EXISTS voucher_buffer (
	n           INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	print_type  INTEGER NOT NULL,
	issued_at   TEXT,
	valid_until TEXT,
	used        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bags (
	id         TEXT PRIMARY KEY,
	bin        INTEGER NOT NULL,
	opened_at  TEXT NOT NULL,
	tare_mg    INTEGER NOT NULL,
	closed_at  TEXT,
	seal       TEXT,
	staff      TEXT,
	warned     INTEGER NOT NULL DEFAULT 0,
	full       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seals (
	number      TEXT PRIMARY KEY,
	bag_id      TEXT NOT NULL,
	sealed_at   TEXT NOT NULL,
	staff       TEXT,
	replaced_by TEXT
);
CREATE TABLE IF NOT EXISTS faults (
	id         INTEGER PRIMARY KEY,
	kind       TEXT NOT NULL,
	raised_at  TEXT NOT NULL,
	cleared_at TEXT,
	cleared_by TEXT
);
CREATE TABLE IF NOT EXISTS catalog_products (
	ean  TEXT PRIMARY KEY,
	body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS calibrations (
	n              INTEGER PRIMARY KEY,
	cell           TEXT NOT NULL,
	offset_counts  INTEGER NOT NULL,
	counts_per_kg  INTEGER NOT NULL,
	resolution_mg  INTEGER NOT NULL,
	at             TEXT NOT NULL,
	by             TEXT NOT NULL,
	note           TEXT
);
-- The technician console (internal/service): one PIN hash, the audit log
-- of every login, refusal, lockout and act, and each calibration's
-- before, after and references.
CREATE TABLE IF NOT EXISTS technician_pin (
	one    INTEGER PRIMARY KEY CHECK (one = 1),
	hash   TEXT NOT NULL,
	set_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
	n       INTEGER PRIMARY KEY,
	at      TEXT NOT NULL,
	session TEXT NOT NULL,
	action  TEXT NOT NULL,
	ok      INTEGER NOT NULL,
	detail  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calibration_log (
	n             INTEGER PRIMARY KEY,
	cell          TEXT NOT NULL,
	at            TEXT NOT NULL,
	by            TEXT NOT NULL,
	old_offset    INTEGER NOT NULL,
	old_per_kg    INTEGER NOT NULL,
	new_offset    INTEGER NOT NULL,
	new_per_kg    INTEGER NOT NULL,
	resolution_mg INTEGER NOT NULL,
	refs          TEXT NOT NULL,
	linearity_ppm INTEGER NOT NULL
);
`

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
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	l := &Ledger{db: db, path: path}
	if err := l.init(); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
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
	if _, err := l.db.ExecContext(ctx, schema); err != nil {
		return l.wrapOpen(err)
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
// records, with those records in sequence order. A record the database
// wrote itself (the "container" event) is passed with its kind and time
// only. It must not block.
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
