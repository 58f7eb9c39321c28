package drssim

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// store is the simulator's SQLite file: what it has accepted survives a
// restart, so that a retried delivery after a restart is still a 409.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS machines (
	id            TEXT PRIMARY KEY,
	serial_number TEXT NOT NULL,
	body          TEXT NOT NULL,
	registered_at TEXT NOT NULL,
	deleted_at    TEXT
);
CREATE INDEX IF NOT EXISTS machines_serial ON machines(serial_number);
CREATE TABLE IF NOT EXISTS transactions (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	rvm_id      TEXT NOT NULL,
	body        TEXT NOT NULL,
	received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bag_fill_status (
	event_id    TEXT PRIMARY KEY,
	rvm_id      TEXT NOT NULL,
	body        TEXT NOT NULL,
	received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bag_replacements (
	bag_id      TEXT PRIMARY KEY,
	rvm_id      TEXT NOT NULL,
	body        TEXT NOT NULL,
	received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bag_seals (
	bag_id      TEXT NOT NULL,
	seal_number TEXT NOT NULL,
	body        TEXT NOT NULL,
	received_at TEXT NOT NULL,
	PRIMARY KEY (bag_id, seal_number)
);
CREATE TABLE IF NOT EXISTS vouchers (
	id             TEXT PRIMARY KEY,
	rvm_id         TEXT NOT NULL,
	handed_out_at  TEXT NOT NULL,
	transaction_id TEXT,
	valid_until    TEXT,
	redeemed_at    TEXT,
	redeem_type    INTEGER,
	redeem_body    TEXT
);
`

var memSeq atomic.Int64

// openStore opens (creating) the SQLite file at path, or a private
// in-memory database when path is "".
func openStore(path string) (*store, error) { return openStoreLimit(path, math.MaxInt64) }

// openStoreLimit is openStore with the most bytes an in-memory database
// may hold (a file is bounded by its disk).
func openStoreLimit(path string, memLimit int64) (*store, error) {
	var db *sql.DB
	if path == "" {
		// A name of its own per store: two simulators in one test binary
		// must not share a database. The memdb VFS, not mode=memory: the
		// latter's commit grows with the database (BenchmarkAddTransaction:
		// 50 µs a transaction holding 100,000, against a steady 22-25 µs),
		// which slowed the simulator down through an hour's backlog. The
		// memdb VFS stops at 1 GiB unless told otherwise (SQLite's
		// SQLITE_MEMDB_DEFAULT_MAXSIZE): an hour's backlog is about that.
		dsn := fmt.Sprintf("file:/drssim-%d-%d?vfs=memdb&_txlock=immediate&_busy_timeout=5000&_stmt_cache_size=32", time.Now().UnixNano(), memSeq.Add(1))
		db = sql.OpenDB(memConnector{dsn: dsn, d: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return c.SetFileControlInt64("main", sqlite3.SQLITE_FCNTL_SIZE_LIMIT, memLimit)
		}}})
	} else {
		var err error
		db, err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000&_stmt_cache_size=32")
		if err != nil {
			return nil, fmt.Errorf("drssim: open %s: %w", path, err)
		}
	}
	// One connection: SQLite has one writer anyway, and an in-memory
	// database lives only as long as a connection to it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("drssim: create schema in %q: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// memConnector opens connections to an in-memory database through a
// driver of its own, whose hook sets the database's size limit.
type memConnector struct {
	dsn string
	d   *sqlite3.SQLiteDriver
}

func (c memConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c memConnector) Driver() driver.Driver                        { return c.d }

// boot counts the starts of the simulator on this database; the id
// generator mixes it into its seed so that a restarted simulator with the
// same -seed does not hand out the same ids again.
func (s *store) boot(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO meta(key, value) VALUES ('boots', 1)
		 ON CONFLICT(key) DO UPDATE SET value = value + 1
		 RETURNING value`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("drssim: count boots: %w", err)
	}
	return n, nil
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// machineKnown returns whether id is registered and not deleted.
func (s *store) machineKnown(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM machines WHERE id = ? AND deleted_at IS NULL`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("drssim: look up machine: %w", err)
	}
	return n > 0, nil
}

// machineBySerial returns the live machine registered under serial, or "".
func (s *store) machineBySerial(ctx context.Context, serial string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx,
		`SELECT id FROM machines WHERE serial_number = ? AND deleted_at IS NULL ORDER BY registered_at LIMIT 1`, serial).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("drssim: look up serial: %w", err)
	}
	return id, nil
}

// putMachine inserts or updates a machine and brings a deleted one back.
func (s *store) putMachine(ctx context.Context, id, serial string, body []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO machines(id, serial_number, body, registered_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT(id) DO UPDATE SET serial_number = excluded.serial_number, body = excluded.body, deleted_at = NULL`,
		id, serial, string(body), ts(now))
	if err != nil {
		return fmt.Errorf("drssim: store machine: %w", err)
	}
	return nil
}

// deleteMachine marks id deleted; false if it was not registered.
func (s *store) deleteMachine(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE machines SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, ts(now), id)
	if err != nil {
		return false, fmt.Errorf("drssim: delete machine: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// errConflict: the id is taken (a 409).
var errConflict = errors.New("drssim: conflicting id")

func (s *store) transactionExists(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("drssim: look up transaction: %w", err)
	}
	return n > 0, nil
}

// voucherRefusal is a business refusal of a transaction's voucher (a 422).
type voucherRefusal struct{ code, label string }

func (e *voucherRefusal) Error() string { return "drssim: voucher refused: " + e.code }

// txVoucher is what addTransaction records about the transaction's voucher.
type txVoucher struct {
	id         string // "" when the transaction carries none
	generate   bool   // the machine left the id empty: hand one out
	redeemed   bool
	redeemType int
	validUntil time.Time
	endTime    time.Time
}

// addTransaction stores a transaction and its voucher in one commit. It
// returns errConflict when the id exists, and *voucherRefusal when the voucher
// code belongs to another machine or another transaction. newCode makes a
// fresh code when the machine asked for one.
func (s *store) addTransaction(ctx context.Context, id, rvmID string, body []byte, v txVoucher, now time.Time, newCode func() string) (voucherID string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("drssim: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO transactions(id, rvm_id, body, received_at) VALUES (?, ?, ?, ?)`,
		id, rvmID, string(body), ts(now)); err != nil {
		if isUnique(err) {
			return "", errConflict
		}
		return "", fmt.Errorf("drssim: store transaction: %w", err)
	}
	voucherID = v.id
	if v.generate {
		for {
			voucherID = newCode()
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM vouchers WHERE id = ?`, voucherID).Scan(&n); err != nil {
				return "", fmt.Errorf("drssim: check voucher: %w", err)
			}
			if n == 0 {
				break
			}
		}
	}
	if voucherID != "" {
		var owner string
		var txID sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT rvm_id, transaction_id FROM vouchers WHERE id = ?`, voucherID).Scan(&owner, &txID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// A code the machine made up itself: the operator allows it.
			_, err = tx.ExecContext(ctx,
				`INSERT INTO vouchers(id, rvm_id, handed_out_at) VALUES (?, ?, ?)`, voucherID, rvmID, ts(now))
			if err != nil {
				return "", fmt.Errorf("drssim: store voucher: %w", err)
			}
		case err != nil:
			return "", fmt.Errorf("drssim: look up voucher: %w", err)
		case owner != rvmID:
			return "", &voucherRefusal{"VOUCHER_OTHER_MACHINE", "api.err.msg.voucher.other.machine"}
		case txID.Valid:
			return "", &voucherRefusal{"VOUCHER_ALREADY_USED", "api.err.msg.voucher.already.used"}
		}
		var redeemedAt, redeemType any
		if v.redeemed {
			redeemedAt, redeemType = ts(v.endTime), v.redeemType
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE vouchers SET transaction_id = ?, valid_until = ?, redeemed_at = ?, redeem_type = ? WHERE id = ?`,
			id, ts(v.validUntil), redeemedAt, redeemType, voucherID); err != nil {
			return "", fmt.Errorf("drssim: attach voucher: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("drssim: commit transaction: %w", err)
	}
	return voucherID, nil
}

// transactions returns the accepted transaction bodies in acceptance order.
func (s *store) transactions(ctx context.Context) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT body FROM transactions ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("drssim: list transactions: %w", err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("drssim: list transactions: %w", err)
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

func (s *store) addFillStatus(ctx context.Context, eventID, rvmID string, body []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO bag_fill_status(event_id, rvm_id, body, received_at) VALUES (?, ?, ?, ?)`,
		eventID, rvmID, string(body), ts(now))
	if err != nil {
		return fmt.Errorf("drssim: store bag fill status: %w", err)
	}
	return nil
}

// addReplacement returns errConflict when the bag was reported before.
func (s *store) addReplacement(ctx context.Context, bagID, rvmID string, body []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO bag_replacements(bag_id, rvm_id, body, received_at) VALUES (?, ?, ?, ?)`,
		bagID, rvmID, string(body), ts(now))
	if isUnique(err) {
		return errConflict
	}
	if err != nil {
		return fmt.Errorf("drssim: store bag replacement: %w", err)
	}
	return nil
}

// addSeal stores a seal; a repeat of the same bag and seal is accepted
// again without a second row, because the operator lists no 409 for it.
func (s *store) addSeal(ctx context.Context, bagID, seal string, body []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO bag_seals(bag_id, seal_number, body, received_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT(bag_id, seal_number) DO NOTHING`,
		bagID, seal, string(body), ts(now))
	if err != nil {
		return fmt.Errorf("drssim: store bag seal: %w", err)
	}
	return nil
}

// handOut reserves n fresh codes for rvmID.
func (s *store) handOut(ctx context.Context, rvmID string, n int, now time.Time, newCode func() string) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("drssim: begin: %w", err)
	}
	defer tx.Rollback()
	codes := make([]string, 0, n)
	for len(codes) < n {
		code := newCode()
		_, err := tx.ExecContext(ctx, `INSERT INTO vouchers(id, rvm_id, handed_out_at) VALUES (?, ?, ?)`, code, rvmID, ts(now))
		if isUnique(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("drssim: store voucher: %w", err)
		}
		codes = append(codes, code)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("drssim: commit vouchers: %w", err)
	}
	return codes, nil
}

// Redemption outcomes besides success.
var (
	errVoucherUnknown  = errors.New("drssim: unknown voucher")
	errVoucherRedeemed = errors.New("drssim: voucher already redeemed")
	errVoucherExpired  = errors.New("drssim: voucher expired")
	errVoucherMachine  = errors.New("drssim: voucher of another machine")
)

// redeem marks a voucher redeemed, once. The conditional UPDATE is the
// arbiter between two concurrent redemptions: exactly one changes the row.
func (s *store) redeem(ctx context.Context, id, rvmID string, redeemType int, at time.Time, body []byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("drssim: begin: %w", err)
	}
	defer tx.Rollback()
	var owner string
	var validUntil, redeemedAt sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT rvm_id, valid_until, redeemed_at FROM vouchers WHERE id = ?`, id).Scan(&owner, &validUntil, &redeemedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return errVoucherUnknown
	}
	if err != nil {
		return fmt.Errorf("drssim: look up voucher: %w", err)
	}
	switch {
	case redeemedAt.Valid:
		return fmt.Errorf("%w at %s", errVoucherRedeemed, redeemedAt.String)
	case rvmID != "" && !strings.EqualFold(rvmID, owner):
		return errVoucherMachine
	}
	if validUntil.Valid {
		if vu, err := time.Parse(time.RFC3339Nano, validUntil.String); err == nil && at.After(vu) {
			return errVoucherExpired
		}
	}
	res, err := tx.ExecContext(ctx,
		`UPDATE vouchers SET redeemed_at = ?, redeem_type = ?, redeem_body = ? WHERE id = ? AND redeemed_at IS NULL`,
		ts(at), redeemType, string(body), id)
	if err != nil {
		return fmt.Errorf("drssim: redeem voucher: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errVoucherRedeemed
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("drssim: commit redemption: %w", err)
	}
	return nil
}

// Counts are the sizes of the simulator's tables.
type Counts struct {
	Machines         int `json:"machines"`
	Transactions     int `json:"transactions"`
	BagFillStatus    int `json:"bagFillStatus"`
	BagReplacements  int `json:"bagReplacements"`
	BagSeals         int `json:"bagSeals"`
	VouchersIssued   int `json:"vouchersIssued"`
	VouchersRedeemed int `json:"vouchersRedeemed"`
}

func (s *store) counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM machines WHERE deleted_at IS NULL),
		(SELECT count(*) FROM transactions),
		(SELECT count(*) FROM bag_fill_status),
		(SELECT count(*) FROM bag_replacements),
		(SELECT count(*) FROM bag_seals),
		(SELECT count(*) FROM vouchers),
		(SELECT count(*) FROM vouchers WHERE redeemed_at IS NOT NULL)`).Scan(
		&c.Machines, &c.Transactions, &c.BagFillStatus, &c.BagReplacements, &c.BagSeals, &c.VouchersIssued, &c.VouchersRedeemed)
	if err != nil {
		return Counts{}, fmt.Errorf("drssim: count: %w", err)
	}
	return c, nil
}
