package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// Machine is one machine as the fleet view shows it.
type Machine struct {
	Serial          string
	RvmID           string
	Online          bool
	Status          json.RawMessage // the retained status as received
	StatusAt        time.Time
	LastSeen        time.Time
	Fault           string
	CatalogVersion  int64
	VouchersSent    int64
	VouchersUsed    int64
	VoucherTopUpAt  time.Time
	ContainersToday int64
	DepositsToday   money.Grosze
	Pending         int
	Registration    json.RawMessage // the body of POST /machine the operator sent us
}

const machineCols = `m.serial, m.rvm_id, m.online, m.status, m.status_at, m.last_seen, m.fault, m.catalog_version,
	m.vouchers_sent, m.vouchers_used, m.voucher_topup_at, m.registration,
	COALESCE(d.containers, 0), COALESCE(d.deposits, 0)`

func scanMachine(sc interface{ Scan(...any) error }) (Machine, error) {
	var m Machine
	var online int
	var status, reg string
	var statusAt, seen, topup, deposits int64
	err := sc.Scan(&m.Serial, &m.RvmID, &online, &status, &statusAt, &seen, &m.Fault, &m.CatalogVersion,
		&m.VouchersSent, &m.VouchersUsed, &topup, &reg, &m.ContainersToday, &deposits)
	m.Online = online == 1
	if status != "" {
		m.Status = json.RawMessage(status)
	}
	if reg != "" {
		m.Registration = json.RawMessage(reg)
	}
	m.StatusAt, m.LastSeen, m.VoucherTopUpAt = fromMS(statusAt), fromMS(seen), fromMS(topup)
	m.DepositsToday = money.Grosze(deposits)
	return m, err
}

// Machines lists every machine known, by serial, with the counts of day
// ("2006-01-02", UTC) and its operator queue length.
func (s *Store) Machines(ctx context.Context, day string) ([]Machine, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT `+machineCols+` FROM machines m
		LEFT JOIN machine_days d ON d.machine = m.serial AND d.day = ? ORDER BY m.serial`), day)
	if err != nil {
		return nil, fmt.Errorf("store: machines: %w", err)
	}
	out := []Machine{}
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: machines: %w", err)
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: machines: %w", err)
	}
	out = s.overlay(out, day, true)
	pending, err := s.pendingByMachine(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Pending = pending[out[i].Serial]
	}
	return out, nil
}

// overlay adds the fleet counters not yet written (see SaveBatch) to ms,
// and with addNew the machines only they know of, so that the fleet view
// is current.
func (s *Store) overlay(ms []Machine, day string, addNew bool) []Machine {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	t := s.pending
	known := map[string]bool{}
	for i := range ms {
		m := &ms[i]
		known[m.Serial] = true
		if at := fromMS(t.seen[m.Serial]); at.After(m.LastSeen) {
			m.LastSeen = at
		}
		m.VouchersUsed += t.used[m.Serial]
		d := t.days[[2]string{m.Serial, day}]
		m.ContainersToday += d[0]
		m.DepositsToday += money.Grosze(d[1])
	}
	if !addNew {
		return ms
	}
	for _, serial := range sortedKeys(t.seen) {
		if !known[serial] {
			ms = append(ms, t.machine(serial, day))
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Serial < ms[j].Serial })
	return ms
}

// held returns a machine known only from the counters not yet written
// (first seen within the last tallyEvery, so without a row yet).
func (s *Store) held(serial, day string) (Machine, bool) {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	if _, ok := s.pending.seen[serial]; !ok {
		return Machine{}, false
	}
	return s.pending.machine(serial, day), true
}

// machine is what t holds of a machine without a row.
func (t *tally) machine(serial, day string) Machine {
	d := t.days[[2]string{serial, day}]
	return Machine{Serial: serial, LastSeen: fromMS(t.seen[serial]), VouchersUsed: t.used[serial],
		ContainersToday: d[0], DepositsToday: money.Grosze(d[1])}
}

func (s *Store) pendingByMachine(ctx context.Context) (map[string]int, error) {
	return s.countBy(ctx, "pending", `SELECT machine, count(*) FROM events`+s.pendingIndex()+` WHERE state = 'pending' GROUP BY machine`)
}

// machineByKey reads one machine by serial or rvmId (with the day's
// counts): two index searches (migration 0006), never a scan of the fleet.
const machineByKey = `SELECT ` + machineCols + ` FROM machines m
		LEFT JOIN machine_days d ON d.machine = m.serial AND d.day = ?
		WHERE m.serial = ? OR (m.rvm_id <> '' AND m.rvm_id = ?) LIMIT 1`

// Machine returns one machine by serial number or rvmId.
func (s *Store) Machine(ctx context.Context, key, day string) (Machine, error) {
	m, err := scanMachine(s.rd.QueryRowContext(ctx, s.q(machineByKey), day, key, strings.ToLower(key)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A machine first seen within the last tallyEvery has no row yet,
		// only counters not yet written (the fleet list shows it too).
		var ok bool
		if m, ok = s.held(key, day); !ok {
			return Machine{}, fmt.Errorf("%w: machine %s", ErrNotFound, key)
		}
	case err != nil:
		return Machine{}, fmt.Errorf("store: machine %s: %w", key, err)
	default:
		m = s.overlay([]Machine{m}, day, false)[0]
	}
	q, err := s.Queue(ctx, m.Serial)
	if err != nil {
		return Machine{}, err
	}
	m.Pending = q.Pending
	return m, nil
}

// OnlineCount returns how many machines' retained status says online.
func (s *Store) OnlineCount(ctx context.Context) (int, error) {
	var n int
	if err := s.rd.QueryRowContext(ctx, `SELECT count(*) FROM machines WHERE online = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: online count: %w", err)
	}
	return n, nil
}

// Binding sources: how the gateway learnt which rvmId a serial speaks for.
const (
	// BoundByOperator: the operator's answer to a registration, or its
	// POST /machine on our API. It replaces any earlier binding.
	BoundByOperator = "operator"
	// BoundOnFirstSight: a machine registered before the gateway bound
	// serials; the rvmId of its first event or status is recorded.
	BoundOnFirstSight = "first-sight"
)

// Binding is the rvmId a serial speaks for. A serial has at most one, and
// an rvmId belongs to at most one serial.
type Binding struct {
	Serial  string    `json:"serial"`
	RvmID   string    `json:"rvmId"`
	Source  string    `json:"source"`
	BoundAt time.Time `json:"boundAt"`
}

// Bindings lists every binding, by serial.
func (s *Store) Bindings(ctx context.Context) ([]Binding, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT serial, rvm_id, source, bound_at FROM bindings ORDER BY serial`)
	if err != nil {
		return nil, fmt.Errorf("store: bindings: %w", err)
	}
	defer rows.Close()
	out := []Binding{}
	for rows.Next() {
		var b Binding
		var at int64
		if err := rows.Scan(&b.Serial, &b.RvmID, &b.Source, &at); err != nil {
			return nil, fmt.Errorf("store: bindings: %w", err)
		}
		b.BoundAt = fromMS(at)
		out = append(out, b)
	}
	return out, rows.Err()
}

// checkBinding returns why serial may not speak for rvmID (lower case), or
// "". An unbound serial is bound to rvmID on first sight, unless another
// serial holds it. An empty rvmID (a machine not registered yet) claims
// nothing. binds caches what this transaction learnt.
func (s *Store) checkBinding(ctx context.Context, tx *sql.Tx, serial, rvmID string, now time.Time, binds map[string]string) (string, error) {
	if rvmID == "" {
		return "", nil
	}
	bound, ok := binds[serial]
	if !ok {
		s.bindMu.Lock()
		bound, ok = s.bound[serial]
		s.bindMu.Unlock()
	}
	if ok && bound == rvmID {
		return "", nil
	}
	// Not known here, or different: the database has the last word (the
	// operator may have bound it anew through another replica).
	bound, err := s.boundRvmID(ctx, tx, serial)
	if err != nil {
		return "", err
	}
	if bound == "" {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bindings(serial, rvm_id, source, bound_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`), serial, rvmID, BoundOnFirstSight, ms(now)); err != nil {
			return "", fmt.Errorf("store: bind %s: %w", serial, err)
		}
		if bound, err = s.boundRvmID(ctx, tx, serial); err != nil {
			return "", err
		}
	}
	if bound != "" {
		binds[serial] = bound
	}
	if bound == rvmID {
		return "", nil
	}
	var holder string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT serial FROM bindings WHERE rvm_id = ?`), rvmID).Scan(&holder); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: binding of %s: %w", rvmID, err)
	}
	if holder != "" {
		return fmt.Sprintf("rvmId %s belongs to machine %s, not %s", rvmID, holder, serial), nil
	}
	return fmt.Sprintf("rvmId %s is not machine %s's (it is bound to %s)", rvmID, serial, bound), nil
}

func (s *Store) boundRvmID(ctx context.Context, tx *sql.Tx, serial string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, s.q(`SELECT rvm_id FROM bindings WHERE serial = ?`), serial).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: binding of %s: %w", serial, err)
	}
	return id, nil
}

// bindTx binds serial to rvmID on the operator's word: it replaces the
// serial's binding and takes rvmID from a serial that claimed it on first
// sight.
func (s *Store) bindTx(ctx context.Context, tx *sql.Tx, serial, rvmID string, now time.Time) error {
	if rvmID == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM bindings WHERE rvm_id = ? AND serial <> ?`), rvmID, serial); err != nil {
		return fmt.Errorf("store: bind %s: %w", serial, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bindings(serial, rvm_id, source, bound_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(serial) DO UPDATE SET rvm_id = excluded.rvm_id, source = excluded.source, bound_at = excluded.bound_at`),
		serial, rvmID, BoundByOperator, ms(now)); err != nil {
		return fmt.Errorf("store: bind %s: %w", serial, err)
	}
	return nil
}

// forgetBindings empties the binding cache after the operator changed one.
func (s *Store) forgetBindings() {
	s.bindMu.Lock()
	s.bound = map[string]string{}
	s.bindMu.Unlock()
}

// SetRvmID records the operator's id of a machine (its answer to the
// machine's registration), and binds the serial to it.
func (s *Store) SetRvmID(ctx context.Context, serial, rvmID string) error {
	rvmID = strings.ToLower(rvmID)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO machines(serial, rvm_id) VALUES (?, ?)
			ON CONFLICT(serial) DO UPDATE SET rvm_id = excluded.rvm_id`), serial, rvmID); err != nil {
			return fmt.Errorf("store: set rvmId of %s: %w", serial, err)
		}
		return s.bindTx(ctx, tx, serial, rvmID, s.clk.Now())
	})
	s.forgetBindings()
	return err
}

// PutRegistration records a machine the operator registered with us
// (POST /machine on our API): its serial, its id and the body. The serial
// is bound to the id.
func (s *Store) PutRegistration(ctx context.Context, serial, rvmID string, body []byte) error {
	rvmID = strings.ToLower(rvmID)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO machines(serial, rvm_id, registration) VALUES (?, ?, ?)
			ON CONFLICT(serial) DO UPDATE SET rvm_id = excluded.rvm_id, registration = excluded.registration`),
			serial, rvmID, string(body)); err != nil {
			return fmt.Errorf("store: register %s: %w", serial, err)
		}
		return s.bindTx(ctx, tx, serial, rvmID, s.clk.Now())
	})
	s.forgetBindings()
	return err
}

// DeleteMachine forgets a machine's registration with the operator and its
// binding (its events stay). It fails with [ErrNotFound] for an unknown key.
func (s *Store) DeleteMachine(ctx context.Context, key string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM bindings WHERE serial = ? OR rvm_id = ?`), key, strings.ToLower(key)); err != nil {
			return fmt.Errorf("store: delete machine %s: %w", key, err)
		}
		r, err := tx.ExecContext(ctx, s.q(`UPDATE machines SET rvm_id = '', registration = '' WHERE serial = ? OR (rvm_id <> '' AND rvm_id = ?)`),
			key, strings.ToLower(key))
		if err != nil {
			return fmt.Errorf("store: delete machine %s: %w", key, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: machine %s", ErrNotFound, key)
		}
		return nil
	})
	s.forgetBindings()
	return err
}

// SetMachineCatalog records the catalogue version pushed to a machine.
func (s *Store) SetMachineCatalog(ctx context.Context, serial string, version int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE machines SET catalog_version = ? WHERE serial = ?`), version, serial)
	if err != nil {
		return fmt.Errorf("store: catalogue version of %s: %w", serial, err)
	}
	return nil
}

// AddVoucherBuffer records the buffer codes handed to a machine at now:
// each code then belongs to that machine (see [Store.SaveBatch]), and
// counts as sent. A code handed out before keeps its first machine.
func (s *Store) AddVoucherBuffer(ctx context.Context, serial string, codes []string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range codes {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO voucher_buffer(code, machine, handed_at) VALUES (?, ?, ?) ON CONFLICT(code) DO NOTHING`),
				c, serial, ms(now)); err != nil {
				return fmt.Errorf("store: voucher buffer of %s: %w", serial, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE machines SET vouchers_sent = vouchers_sent + ?, voucher_topup_at = ? WHERE serial = ?`),
			len(codes), ms(now), serial); err != nil {
			return fmt.Errorf("store: vouchers sent to %s: %w", serial, err)
		}
		return nil
	})
}
