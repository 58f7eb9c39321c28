package store

import (
	"bytes"
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

// Event states.
const (
	StatePending   = "pending"   // waits for the forwarder
	StateDelivered = "delivered" // the operator has it
	StateFailed    = "failed"    // refused for good; in the failure report
	StateDismissed = "dismissed" // refused, and staff decided to let it be
	StateStored    = "stored"    // kept, not for the operator (container, heartbeat, ...)
)

// kindTransaction is the envelope kind of a transaction, whose id is the
// operator's idempotency key.
const kindTransaction = "transaction"

// Event is one envelope as stored.
type Event struct {
	ID      string
	Machine string
	RvmID   string
	Seq     int64
	Kind    string
	TS      string
	Body    []byte
	// Forward puts the event in the operator queue (state pending).
	Forward    bool
	ReceivedAt time.Time
	// Topic and Raw are the MQTT message as received, kept only if the
	// event is refused at the door (see [Store.SaveBatch]).
	Topic string
	Raw   []byte

	// Side effects applied only when the event is new (not a duplicate).
	Vouchers   []Voucher    // vouchers the event issues or names
	Containers int64        // credited containers, for today's count
	Deposits   money.Grosze // credited deposits, for today's sum
	VoucherUse int64        // buffer codes the machine used up
	// Signals counts what the fleet learns from the event, by signal name
	// (see Signal*): a machine's running totals, in machine_signals.
	Signals map[string]int64

	// Delivery state, filled when read back.
	State       string
	Attempts    int
	DeliveredAt time.Time
	Response    string
	LastError   string
	ConfirmedAt time.Time
}

// Quarantined is an event refused at the door, kept with its raw payload.
type Quarantined struct {
	ID         int64     `json:"id"`
	Topic      string    `json:"topic"`
	Payload    []byte    `json:"payload"`
	Size       int64     `json:"size"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// StatusUpdate is a machine's retained status as received.
type StatusUpdate struct {
	Serial string
	Online bool
	RvmID  string
	Fault  string
	Raw    []byte
	At     time.Time
}

// Batch is what one commit stores: the consumer acknowledges its MQTT
// messages only after SaveBatch returned nil.
type Batch struct {
	Events     []Event
	Quarantine []Quarantined
	Statuses   []StatusUpdate
}

// SaveResult counts what a batch did.
type SaveResult struct {
	Inserted, Duplicates, Quarantined int
	// Refused are the events of the batch that the store quarantined: an
	// identity that is not the topic serial's, a voucher code of another
	// machine, an id repeated with another body.
	Refused []Quarantined
	// Kinds counts the new events by kind.
	Kinds map[string]int
	// Forward is true when a new event joined the operator queue.
	Forward bool
}

// SaveBatch stores b in one transaction. An event that repeats one of its
// machine's stored events (same id, kind, seq and body) is a duplicate: it
// is counted and has no effect. An event is refused, quarantined with its
// reason, when
//   - the rvmId it speaks for (envelope or body) is not the one bound to its
//     serial, or is bound to another serial (see [Store.Bind]); an unbound
//     serial is bound to it on first sight;
//   - a voucher it names belongs to another machine (issued by it first, or
//     in a voucher buffer handed to it), or it changes a known voucher's
//     amount, currency, validity or transaction;
//   - it repeats an id of its machine with another body (the first stands);
//   - it is a transaction whose id another machine's transaction holds.
//
// Ids are de-duplicated per machine: an id another machine used first does
// not make an event a duplicate. Such an event is stored under the key
// "ID@SERIAL", except a transaction, whose id is the operator's key: it
// takes the plain id and the other machine's event moves to its own
// "ID@SERIAL" key.
func (s *Store) SaveBatch(ctx context.Context, b Batch) (SaveResult, error) {
	// Rows are touched in key order so that two replicas' batches cannot
	// deadlock on each other in PostgreSQL.
	evs := inKeyOrder(b.Events, func(e *Event) string { return e.ID })
	sts := inKeyOrder(b.Statuses, func(st *StatusUpdate) string { return st.Serial })
	// The fleet counters (last seen, today's containers and deposits,
	// vouchers used) are written at most once a second, for all the batches
	// of that second together: one row per machine per batch would cost
	// more than the events themselves. A crash loses at most that second of
	// counters; the events, the queue and the vouchers are never deferred.
	var flush *tally
	s.tallyMu.Lock()
	if s.clk.Since(s.flushedAt) >= tallyEvery {
		flush, s.pending, s.flushedAt = s.pending, newTally(), s.clk.Now()
	}
	s.tallyMu.Unlock()
	var res SaveResult
	var local *tally
	var binds map[string]string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = SaveResult{Kinds: map[string]int{}}
		local = newTally()
		binds = map[string]string{}
		refuse := func(e Event, reason string) {
			res.Refused = append(res.Refused, Quarantined{Topic: e.Topic, Payload: e.Raw, Size: int64(len(e.Raw)), Reason: reason, ReceivedAt: e.ReceivedAt})
		}
		// First sight binds serials: in serial order, like every other row
		// touched, so that two replicas' batches cannot deadlock on them.
		for _, c := range claims(evs, sts) {
			if _, err := s.checkBinding(ctx, tx, c[0], c[1], s.clk.Now(), binds); err != nil {
				return err
			}
		}
		admitted := make([]Event, 0, len(evs))
		issued := map[string]Voucher{} // vouchers of this batch's admitted events, by code
		for _, e := range evs {
			reason, err := s.admit(ctx, tx, e, binds, issued)
			if err != nil {
				return err
			}
			if reason != "" {
				refuse(e, reason)
				continue
			}
			admitted = append(admitted, e)
		}
		fresh, reasons, err := s.insertEvents(ctx, tx, admitted)
		if err != nil {
			return err
		}
		fwd := map[string]bool{}
		var vouchers []Voucher
		for i, e := range admitted {
			if reasons[i] != "" {
				refuse(e, reasons[i])
				continue
			}
			if !fresh[i] {
				res.Duplicates++
				continue
			}
			res.Inserted++
			res.Kinds[e.Kind]++
			local.add(e)
			if e.Forward {
				fwd[e.Machine] = true
				res.Forward = true
			}
			for _, v := range e.Vouchers {
				v.Machine, v.RvmID = e.Machine, e.RvmID
				vouchers = append(vouchers, v)
			}
		}
		if flush != nil {
			all := newTally()
			all.merge(flush)
			all.merge(local)
			if err := s.writeTally(ctx, tx, all); err != nil {
				return err
			}
		}
		for _, m := range sortedKeys(fwd) {
			// A machine waiting for a missing seq (not backing off) looks
			// again at once: this may be the event it waits for. arrivals
			// tells a forwarder releasing the machine meanwhile not to
			// put it back to sleep (see Release).
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO fwd(machine) VALUES (?)
				ON CONFLICT(machine) DO UPDATE SET arrivals = fwd.arrivals + 1,
				next_at = CASE WHEN fwd.fails = 0 THEN 0 ELSE fwd.next_at END`), m); err != nil {
				return fmt.Errorf("store: queue %s: %w", m, err)
			}
		}
		for _, v := range inKeyOrder(vouchers, func(v *Voucher) string { return v.Code }) {
			if err := s.upsertVoucher(ctx, tx, v); err != nil {
				return err
			}
		}
		for _, q := range append(append([]Quarantined(nil), b.Quarantine...), res.Refused...) {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO quarantine(topic, payload, size, reason, received_at) VALUES (?, ?, ?, ?, ?)`),
				q.Topic, q.Payload, q.Size, q.Reason, ms(q.ReceivedAt)); err != nil {
				return fmt.Errorf("store: quarantine: %w", err)
			}
			res.Quarantined++
		}
		for _, st := range sts {
			reason, err := s.checkBinding(ctx, tx, st.Serial, strings.ToLower(st.RvmID), st.At, binds)
			if err != nil {
				return err
			}
			if reason != "" {
				q := Quarantined{Topic: "rvm/" + st.Serial + "/status", Payload: st.Raw, Size: int64(len(st.Raw)), Reason: reason, ReceivedAt: st.At}
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO quarantine(topic, payload, size, reason, received_at) VALUES (?, ?, ?, ?, ?)`),
					q.Topic, q.Payload, q.Size, q.Reason, ms(q.ReceivedAt)); err != nil {
					return fmt.Errorf("store: quarantine: %w", err)
				}
				res.Quarantined++
				res.Refused = append(res.Refused, q)
				continue
			}
			online := 0
			if st.Online {
				online = 1
			}
			seenAt := int64(0)
			if st.Online {
				seenAt = ms(st.At)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO machines(serial, rvm_id, online, status, status_at, last_seen, fault) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT(serial) DO UPDATE SET online = excluded.online, status = excluded.status, status_at = excluded.status_at,
				fault = excluded.fault,
				rvm_id = CASE WHEN excluded.rvm_id <> '' THEN excluded.rvm_id ELSE machines.rvm_id END,
				last_seen = CASE WHEN machines.last_seen > excluded.last_seen THEN machines.last_seen ELSE excluded.last_seen END`),
				st.Serial, st.RvmID, online, string(st.Raw), ms(st.At), seenAt, st.Fault); err != nil {
				return fmt.Errorf("store: status %s: %w", st.Serial, err)
			}
		}
		return nil
	})
	s.tallyMu.Lock()
	switch {
	case err != nil && flush != nil:
		s.pending.merge(flush)
	case err == nil && flush == nil:
		s.pending.merge(local)
	}
	s.tallyMu.Unlock()
	if err == nil {
		// Bindings are cached only once committed: a rolled-back first
		// sight bound nothing.
		s.bindMu.Lock()
		for serial, id := range binds {
			s.bound[serial] = id
		}
		s.bindMu.Unlock()
	}
	return res, err
}

// admit checks what e claims before it is stored: the rvmId it speaks for
// and the vouchers it names. It returns the reason to refuse e, or "".
// issued holds the vouchers admitted earlier in the batch and gains e's.
func (s *Store) admit(ctx context.Context, tx *sql.Tx, e Event, binds map[string]string, issued map[string]Voucher) (string, error) {
	reason, err := s.checkBinding(ctx, tx, e.Machine, e.RvmID, e.ReceivedAt, binds)
	if err != nil || reason != "" {
		return reason, err
	}
	for _, v := range e.Vouchers {
		known, ok := issued[v.Code]
		if !ok {
			if known, ok, err = s.knownVoucher(ctx, tx, v.Code); err != nil {
				return "", err
			}
		}
		if ok {
			if r := voucherConflict(known, v, e.Machine); r != "" {
				return r, nil
			}
		}
	}
	for _, v := range e.Vouchers {
		if k, ok := issued[v.Code]; ok {
			v = mergeVoucher(k, v)
		}
		v.Machine = e.Machine
		issued[v.Code] = v
	}
	return "", nil
}

// claims returns the distinct (serial, rvmId) pairs that evs and sts speak
// for, sorted.
func claims(evs []Event, sts []StatusUpdate) [][2]string {
	seen := map[[2]string]bool{}
	for _, e := range evs {
		if e.RvmID != "" {
			seen[[2]string{e.Machine, e.RvmID}] = true
		}
	}
	for _, st := range sts {
		if st.RvmID != "" {
			seen[[2]string{st.Serial, strings.ToLower(st.RvmID)}] = true
		}
	}
	out := make([][2]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

// scopedID is the key of an event whose id another machine used first.
func scopedID(id, serial string) string { return id + "@" + serial }

// sameEvent reports whether a stored event (kind, seq, body) is e again.
func sameEvent(kind string, seq int64, body string, e Event) bool {
	if kind != e.Kind || seq != e.Seq {
		return false
	}
	var a, b bytes.Buffer
	if json.Compact(&a, []byte(body)) != nil || json.Compact(&b, e.Body) != nil {
		return body == string(e.Body)
	}
	return bytes.Equal(a.Bytes(), b.Bytes())
}

// resolveRepeat decides about an event whose id is taken: a duplicate of
// its machine's own event, a conflicting repeat (refused), or another
// machine's id (then it is stored under its own key). It returns whether
// e was stored, and the reason to refuse it.
func (s *Store) resolveRepeat(ctx context.Context, tx *sql.Tx, e Event) (bool, string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, machine, kind, seq, body FROM events WHERE id = ? OR id = ?`), e.ID, scopedID(e.ID, e.Machine))
	if err != nil {
		return false, "", fmt.Errorf("store: event %s: %w", e.ID, err)
	}
	type row struct {
		id, machine, kind, body string
		seq                     int64
	}
	var own, other *row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.machine, &r.kind, &r.seq, &r.body); err != nil {
			rows.Close()
			return false, "", fmt.Errorf("store: event %s: %w", e.ID, err)
		}
		if r.machine == e.Machine {
			own = &r
		} else if r.id == e.ID {
			other = &r
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, "", fmt.Errorf("store: event %s: %w", e.ID, err)
	}
	switch {
	case own != nil && sameEvent(own.kind, own.seq, own.body, e):
		return false, "", nil
	case own != nil:
		return false, fmt.Sprintf("event id %s of %s repeated with a different body (kind %s, seq %d; the first, seq %d, stands)",
			e.ID, e.Machine, e.Kind, e.Seq, own.seq), nil
	case other == nil:
		// Gone since the insert (cannot happen inside the transaction).
		return s.insertOne(ctx, tx, e.ID, e)
	case e.Kind != kindTransaction:
		ok, _, err := s.insertOne(ctx, tx, scopedID(e.ID, e.Machine), e)
		if err == nil && !ok {
			return false, fmt.Sprintf("event id %s of %s: its key %s is taken", e.ID, e.Machine, scopedID(e.ID, e.Machine)), nil
		}
		return ok, "", err
	case other.kind == kindTransaction:
		return false, fmt.Sprintf("transaction id %s is already machine %s's transaction", e.ID, other.machine), nil
	}
	// The transaction id is the operator's key: the transaction takes it,
	// and the other machine's event keeps its own scoped key.
	moved := scopedID(e.ID, other.machine)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET id = ? WHERE id = ?`), moved, e.ID); err != nil {
		return false, "", fmt.Errorf("store: move event %s: %w", e.ID, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE failures SET event_id = ? WHERE event_id = ?`), moved, e.ID); err != nil {
		return false, "", fmt.Errorf("store: move event %s: %w", e.ID, err)
	}
	return s.insertOne(ctx, tx, e.ID, e)
}

// insertOne inserts e under key; false when key is taken.
func (s *Store) insertOne(ctx context.Context, tx *sql.Tx, key string, e Event) (bool, string, error) {
	state := StateStored
	if e.Forward {
		state = StatePending
	}
	r, err := tx.ExecContext(ctx, s.q(`INSERT INTO events(id, machine, rvm_id, seq, kind, ts, body, received_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO NOTHING`), key, e.Machine, e.RvmID, e.Seq, e.Kind, e.TS, string(e.Body), ms(e.ReceivedAt), state)
	if err != nil {
		return false, "", fmt.Errorf("store: insert event %s: %w", key, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, "", nil
}

// insertEvents inserts evs (sorted by id) with multi-row INSERTs, one round
// trip per chunk, and reports which were new, and the reason to refuse
// those that may not be stored. An event whose id is taken (in the
// database or earlier in evs) is resolved by [Store.resolveRepeat].
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, evs []Event) ([]bool, []string, error) {
	fresh := make([]bool, len(evs))
	reasons := make([]string, len(evs))
	if err := s.insertFast(ctx, tx, evs, fresh); err != nil {
		return nil, nil, err
	}
	for i, e := range evs {
		if fresh[i] {
			continue
		}
		ok, reason, err := s.resolveRepeat(ctx, tx, e)
		if err != nil {
			return nil, nil, err
		}
		fresh[i], reasons[i] = ok, reason
	}
	return fresh, reasons, nil
}

// insertFast inserts evs under their ids where free, marking those in fresh.
func (s *Store) insertFast(ctx context.Context, tx *sql.Tx, evs []Event, fresh []bool) error {
	rows := make([][]any, 0, len(evs))
	idx := make(map[string]int, len(evs))
	for i, e := range evs {
		if _, dup := idx[e.ID]; dup {
			continue
		}
		idx[e.ID] = i
		state := StateStored
		if e.Forward {
			state = StatePending
		}
		rows = append(rows, []any{e.ID, e.Machine, e.RvmID, e.Seq, e.Kind, e.TS, string(e.Body), ms(e.ReceivedAt), state})
	}
	for _, chunk := range chunked(rows) {
		q := s.q(valuesStatement(`INSERT INTO events(id, machine, rvm_id, seq, kind, ts, body, received_at, state)`,
			`ON CONFLICT(id) DO NOTHING RETURNING id`, len(chunk), 9))
		rs, err := tx.QueryContext(ctx, q, flatten(chunk)...)
		if err != nil {
			return fmt.Errorf("store: insert events: %w", err)
		}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return fmt.Errorf("store: insert events: %w", err)
			}
			fresh[idx[id]] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("store: insert events: %w", err)
		}
	}
	return nil
}

// tallyEvery spaces the writes of the fleet counters.
const tallyEvery = time.Second

// tally accumulates the fleet counters of new events until they are written.
type tally struct {
	seen map[string]int64       // machine -> last seen, ms
	used map[string]int64       // machine -> vouchers used
	days map[[2]string][2]int64 // (machine, day) -> (containers, deposits)
	sigs map[[2]string]int64    // (machine, signal) -> count
	hrs  map[[2]string][2]int64 // (machine, hour) -> (containers, deposits)
}

func newTally() *tally {
	return &tally{seen: map[string]int64{}, used: map[string]int64{}, days: map[[2]string][2]int64{}, sigs: map[[2]string]int64{}, hrs: map[[2]string][2]int64{}}
}

func (t *tally) add(e Event) {
	if at := ms(e.ReceivedAt); at > t.seen[e.Machine] {
		t.seen[e.Machine] = at
	}
	t.used[e.Machine] += e.VoucherUse
	if e.Containers != 0 || e.Deposits != 0 {
		k := [2]string{e.Machine, e.ReceivedAt.UTC().Format(time.DateOnly)}
		d := t.days[k]
		t.days[k] = [2]int64{d[0] + e.Containers, d[1] + int64(e.Deposits)}
		h := [2]string{e.Machine, hourOf(e.ReceivedAt)}
		c := t.hrs[h]
		t.hrs[h] = [2]int64{c[0] + e.Containers, c[1] + int64(e.Deposits)}
	}
	for sig, n := range e.Signals {
		t.sigs[[2]string{e.Machine, sig}] += n
	}
}

func (t *tally) merge(o *tally) {
	for m, at := range o.seen {
		t.seen[m] = max(t.seen[m], at)
	}
	for m, n := range o.used {
		t.used[m] += n
	}
	for k, d := range o.days {
		c := t.days[k]
		t.days[k] = [2]int64{c[0] + d[0], c[1] + d[1]}
	}
	for k, n := range o.sigs {
		t.sigs[k] += n
	}
	for k, d := range o.hrs {
		c := t.hrs[k]
		t.hrs[k] = [2]int64{c[0] + d[0], c[1] + d[1]}
	}
}

func (s *Store) writeTally(ctx context.Context, tx *sql.Tx, t *tally) error {
	// Multi-row upserts, keys in order: a fleet's second of counters is
	// tens of thousands of rows, one statement each would cost more than
	// the events they count.
	machines := make([][]any, 0, len(t.seen))
	for _, m := range sortedKeys(t.seen) {
		machines = append(machines, []any{m, t.seen[m], t.used[m]})
	}
	if err := s.upsert(ctx, tx, `INSERT INTO machines(serial, last_seen, vouchers_used)`,
		`ON CONFLICT(serial) DO UPDATE SET last_seen = CASE WHEN machines.last_seen > excluded.last_seen THEN machines.last_seen ELSE excluded.last_seen END,
			vouchers_used = machines.vouchers_used + excluded.vouchers_used`, machines); err != nil {
		return fmt.Errorf("store: machines: %w", err)
	}
	if err := s.upsert(ctx, tx, `INSERT INTO machine_days(machine, day, containers, deposits)`,
		`ON CONFLICT(machine, day) DO UPDATE SET containers = machine_days.containers + excluded.containers,
			deposits = machine_days.deposits + excluded.deposits`, pairRows(t.days)); err != nil {
		return fmt.Errorf("store: day counts: %w", err)
	}
	if err := s.upsert(ctx, tx, `INSERT INTO machine_hours(machine, hour, containers, deposits)`,
		`ON CONFLICT(machine, hour) DO UPDATE SET containers = machine_hours.containers + excluded.containers,
			deposits = machine_hours.deposits + excluded.deposits`, pairRows(t.hrs)); err != nil {
		return fmt.Errorf("store: hour counts: %w", err)
	}
	sigs := make([][]any, 0, len(t.sigs))
	for _, k := range sortedPairs(t.sigs) {
		sigs = append(sigs, []any{k[0], k[1], t.sigs[k]})
	}
	if err := s.upsert(ctx, tx, `INSERT INTO machine_signals(machine, signal, n)`,
		`ON CONFLICT(machine, signal) DO UPDATE SET n = machine_signals.n + excluded.n`, sigs); err != nil {
		return fmt.Errorf("store: signals: %w", err)
	}
	return nil
}

// Flush writes the fleet counters held back (see SaveBatch) now.
func (s *Store) Flush(ctx context.Context) error {
	s.tallyMu.Lock()
	t := s.pending
	s.pending, s.flushedAt = newTally(), s.clk.Now()
	s.tallyMu.Unlock()
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.writeTally(ctx, tx, t) })
	if err != nil {
		s.tallyMu.Lock()
		s.pending.merge(t)
		s.tallyMu.Unlock()
	}
	return err
}

// keyOrder returns the indices of xs in the stable order of their keys:
// the order in which a transaction touches their rows, so that two
// transactions cannot deadlock on each other in PostgreSQL.
func keyOrder[T any](xs []T, key func(*T) string) []int {
	keys := make([]string, len(xs))
	order := make([]int, len(xs))
	for i := range xs {
		keys[i], order[i] = key(&xs[i]), i
	}
	sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	return order
}

// inKeyOrder returns a copy of xs in the stable order of their keys (see
// keyOrder). It sorts indices and moves each element once: swapping the
// large Event structs themselves cost more than the sort's comparisons.
func inKeyOrder[T any](xs []T, key func(*T) string) []T {
	out := make([]T, len(xs))
	for i, j := range keyOrder(xs, key) {
		out[i] = xs[j]
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// Claim is a machine's operator queue leased to one replica.
type Claim struct {
	Machine string
	// Fails counts the consecutive transient failures so far, for backoff.
	Fails int
	// Arrivals counts the machine's event batches stored so far; pass it
	// back in its Release.
	Arrivals int64
}

// ClaimMachines leases up to limit machines whose operator queue has an
// event due, for owner until now+lease. A machine leased by anyone whose
// lease has not expired is skipped; in PostgreSQL rows another replica is
// claiming at the same moment are skipped too (SKIP LOCKED), so replicas
// never wait on each other here.
func (s *Store) ClaimMachines(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Claim, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Claim
	err := s.txLazy(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		query := `SELECT f.machine, f.fails, f.arrivals FROM fwd f WHERE f.next_at <= ? AND f.lease_until <= ?
			AND EXISTS (SELECT 1 FROM events e` + s.pendingIndex() + ` WHERE e.machine = f.machine AND e.state = 'pending')
			ORDER BY f.next_at, f.machine LIMIT ?`
		if s.pg {
			query += ` FOR UPDATE OF f SKIP LOCKED`
		}
		rows, err := tx.QueryContext(ctx, s.q(query), ms(now), ms(now), limit)
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		for rows.Next() {
			var c Claim
			if err := rows.Scan(&c.Machine, &c.Fails, &c.Arrivals); err != nil {
				rows.Close()
				return fmt.Errorf("store: claim: %w", err)
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		for _, c := range out {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE fwd SET lease_owner = ?, lease_until = ? WHERE machine = ?`),
				owner, ms(now.Add(lease)), c.Machine); err != nil {
				return fmt.Errorf("store: lease %s: %w", c.Machine, err)
			}
		}
		return nil
	})
	return out, err
}

// RenewLease extends owner's lease on machine; false when owner lost it.
func (s *Store) RenewLease(ctx context.Context, machine, owner string, until time.Time) (bool, error) {
	var n int64
	err := s.txLazy(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE fwd SET lease_until = ? WHERE machine = ? AND lease_owner = ?`), ms(until), machine, owner)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: renew lease %s: %w", machine, err)
	}
	return n == 1, nil
}

// Idle is the nextAt of a queue with nothing pending: it is not due again
// until an event arrives for it (see SaveBatch), so that a claim visits only
// the queues that have work instead of every machine of the fleet.
var Idle = time.UnixMilli(idleAt).UTC()

const idleAt = int64(1) << 62

// Release ends Owner's lease on Machine. The queue is next due at NextAt
// ([Idle] when nothing is pending), unless events arrived since the claim
// (Arrivals differs from the claim's) and the release is not a backoff
// (Fails == 0): then it is due at once, so that the arrival's wake-up is
// not lost to this release.
type Release struct {
	Machine, Owner string
	NextAt         time.Time
	Fails          int
	Arrivals       int64
}

func (s *Store) release(ctx context.Context, tx *sql.Tx, r Release) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE fwd SET lease_owner = '', lease_until = 0,
		next_at = CASE WHEN CAST(? AS BIGINT) > 0 OR arrivals = CAST(? AS BIGINT) THEN CAST(? AS BIGINT) ELSE 0 END, fails = ?
		WHERE machine = ? AND lease_owner = ?`), r.Fails, r.Arrivals, ms(r.NextAt), r.Fails, r.Machine, r.Owner)
	if err != nil {
		return fmt.Errorf("store: release %s: %w", r.Machine, err)
	}
	return nil
}

// QueueState is a machine's forwarding queue as the fleet view shows it.
type QueueState struct {
	Pending    int
	NextAt     time.Time
	Fails      int
	LeaseOwner string
}

// Queue returns machine's forwarding queue state.
func (s *Store) Queue(ctx context.Context, machine string) (QueueState, error) {
	var q QueueState
	var next int64
	err := s.rd.QueryRowContext(ctx, s.q(`SELECT next_at, fails, lease_owner FROM fwd WHERE machine = ?`), machine).Scan(&next, &q.Fails, &q.LeaseOwner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("store: queue %s: %w", machine, err)
	}
	if next != idleAt {
		q.NextAt = fromMS(next)
	}
	if err := s.rd.QueryRowContext(ctx, s.q(`SELECT count(*) FROM events`+s.pendingIndex()+` WHERE machine = ? AND state = 'pending'`), machine).Scan(&q.Pending); err != nil {
		return q, fmt.Errorf("store: queue %s: %w", machine, err)
	}
	return q, nil
}

const eventCols = `id, machine, rvm_id, seq, kind, ts, body, received_at, state, attempts, delivered_at, response, last_error, confirmed_at`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var body string
	var rec, del, conf int64
	err := sc.Scan(&e.ID, &e.Machine, &e.RvmID, &e.Seq, &e.Kind, &e.TS, &body, &rec, &e.State, &e.Attempts, &del, &e.Response, &e.LastError, &conf)
	e.Body = []byte(body)
	e.ReceivedAt, e.DeliveredAt, e.ConfirmedAt = fromMS(rec), fromMS(del), fromMS(conf)
	e.Forward = e.State != StateStored
	return e, err
}

// Run is a machine's oldest pending events, in seq order, with what the
// forwarder needs to keep to seq order without a query per event.
type Run struct {
	Events []Event
	// Base is the highest seq below Events[0] of an event the forwarder
	// is done with (delivered, failed or dismissed), 0 for none: what lies
	// between it and Events[0] must have arrived before Events[0] goes.
	Base int64
	// States holds the state of each stored event of the machine with a
	// seq from Base+1 to the last event's seq, read after Events: a seq
	// missing here has not arrived, and a pending seq missing from Events
	// arrived in between. It is nil when Arrived is true.
	States map[int64]string
	// Arrived is true when every seq from Base+1 to the last event's has
	// arrived and every pending event among them is in Events: nothing
	// holds the run back.
	Arrived bool
	// Vouchers holds the stored vouchers of the run's transactions, by
	// code, as they were when the run was read.
	Vouchers map[string]Voucher
}

// PendingRun returns up to limit of machine's pending events, lowest seq
// first, the states of the seqs they span (see [Run]) and the stored
// vouchers of its transactions. It reads them in one read transaction: on
// SQLite a reader's page cache lasts only as long as one, since another
// connection's commit empties it, and through a release there is one
// every few milliseconds.
func (s *Store) PendingRun(ctx context.Context, machine string, limit int) (Run, error) {
	var r Run
	tx, err := s.rd.BeginTx(ctx, nil)
	if err != nil {
		return r, fmt.Errorf("store: pending of %s: %w", machine, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only: nothing to keep
	if r.Events, err = s.pendingEvents(ctx, tx, machine, limit); err != nil || len(r.Events) == 0 {
		return r, err
	}
	if err := s.runStates(ctx, tx, machine, &r); err != nil {
		return r, err
	}
	if r.Vouchers, err = s.runVouchers(ctx, tx, r.Events); err != nil {
		return r, err
	}
	return r, nil
}

// pendingEvents reads up to limit of machine's pending events, lowest seq
// first.
func (s *Store) pendingEvents(ctx context.Context, tx *sql.Tx, machine string, limit int) ([]Event, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+eventCols+` FROM events`+s.pendingIndex()+`
		WHERE machine = ? AND state = 'pending' ORDER BY seq LIMIT ?`), machine, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending of %s: %w", machine, err)
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: pending of %s: %w", machine, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending of %s: %w", machine, err)
	}
	return evs, nil
}

// runStates fills r's Base, and Arrived or States, for its Events.
func (s *Store) runStates(ctx context.Context, tx *sql.Tx, machine string, r *Run) error {
	// Backwards from the first event along (machine, seq): a few rows, the
	// events since the machine's last transaction.
	err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM events WHERE machine = ? AND seq < ?
		AND state NOT IN ('stored', 'pending') ORDER BY seq DESC LIMIT 1`), machine, r.Events[0].Seq).Scan(&r.Base)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: seqs of %s: %w", machine, err)
	}
	lo, hi := r.Base+1, r.Events[len(r.Events)-1].Seq
	// Mostly every seq between has arrived and the pending ones are the
	// run's: two counts over indexes tell so without reading the rows,
	// which lie all over the table (an hour's backlog spent a tenth of its
	// tail's CPU reading them). Otherwise the states say what is missing.
	var arrived, pending int64
	err = tx.QueryRowContext(ctx, s.q(s.runSpan()), machine, lo, hi, machine, lo, hi).Scan(&arrived, &pending)
	if err != nil {
		return fmt.Errorf("store: seqs of %s: %w", machine, err)
	}
	if arrived == hi-lo+1 && pending == int64(len(r.Events)) {
		r.Arrived = true
		return nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, state FROM events WHERE machine = ? AND seq BETWEEN ? AND ?`), machine, lo, hi)
	if err != nil {
		return fmt.Errorf("store: seqs of %s: %w", machine, err)
	}
	defer rows.Close()
	r.States = make(map[int64]string, min(hi-lo+1, 4096))
	for rows.Next() {
		var seq int64
		var state string
		if err := rows.Scan(&seq, &state); err != nil {
			return fmt.Errorf("store: seqs of %s: %w", machine, err)
		}
		r.States[seq] = state
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: seqs of %s: %w", machine, err)
	}
	return nil
}

// runVouchers reads the stored vouchers of evs' transactions, by code: the
// operator's answer to a transaction names its voucher, and the forwarder
// writes it only when the answer adds to what is stored (see
// [Adds]). One query a run instead of one a transaction.
func (s *Store) runVouchers(ctx context.Context, tx *sql.Tx, evs []Event) (map[string]Voucher, error) {
	var ids []any
	for _, e := range evs {
		if e.Kind == kindTransaction {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+voucherCols+` FROM vouchers WHERE transaction_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`), ids...)
	if err != nil {
		return nil, fmt.Errorf("store: vouchers of a run: %w", err)
	}
	defer rows.Close()
	out := make(map[string]Voucher, len(ids))
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, fmt.Errorf("store: vouchers of a run: %w", err)
		}
		out[v.Code] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: vouchers of a run: %w", err)
	}
	return out, nil
}

// runSpan counts a machine's seqs from ? to ? that have arrived, and the
// pending ones among them (machine, lo, hi, machine, lo, hi), from the
// indexes alone (TestRunSpanReadsNoRows).
func (s *Store) runSpan() string {
	return `SELECT
		(SELECT count(DISTINCT seq) FROM events WHERE machine = ? AND seq BETWEEN ? AND ?),
		(SELECT count(*) FROM events` + s.pendingIndex() + ` WHERE machine = ? AND state = 'pending' AND seq BETWEEN ? AND ?)`
}

// Event returns one stored event.
func (s *Store) Event(ctx context.Context, id string) (Event, error) {
	e, err := scanEvent(s.rd.QueryRowContext(ctx, s.q(`SELECT `+eventCols+` FROM events WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, fmt.Errorf("%w: event %s", ErrNotFound, id)
	}
	if err != nil {
		return Event{}, fmt.Errorf("store: event %s: %w", id, err)
	}
	return e, nil
}

// EventCounts returns how many events are in each state.
func (s *Store) EventCounts(ctx context.Context) (map[string]int, error) {
	return s.countBy(ctx, "count events", `SELECT state, count(*) FROM events GROUP BY state`)
}

// countBy runs a "SELECT key, count(*) ... GROUP BY key" query.
func (s *Store) countBy(ctx context.Context, what, query string) (map[string]int, error) {
	rows, err := s.rd.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// MarkDelivered records the operator's acceptance of a pending event, with
// its answer. It reports false when the event was no longer pending
// (another replica recorded it first, or staff confirmed it).
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time, response []byte) (bool, error) {
	r, err := s.db.ExecContext(ctx, s.q(`UPDATE events SET state = 'delivered', delivered_at = ?, response = ?,
		attempts = attempts + 1, last_attempt_at = ?, last_error = '',
		first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ? ELSE first_attempt_at END
		WHERE id = ? AND state = 'pending'`), ms(at), string(response), ms(at), ms(at), id)
	if err != nil {
		return false, fmt.Errorf("store: mark %s delivered: %w", id, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

// Delivery is one operator acceptance to record.
type Delivery struct {
	ID       string
	At       time.Time
	Response []byte
}

// RecordForwarding records the forwarder's bookkeeping in one commit:
// deliveries, then lease releases. It reports, for each delivery, whether
// its event was still pending. The commit is lazy (see txLazy): a crash may
// lose it; a lost release expires with its lease, and a lost delivery goes
// to the operator again, who answers 409, recorded as delivered. While the
// consumer's batches hold the one writer, the forwarder's many small
// commits would each wait for a whole batch: together they wait once.
func (s *Store) RecordForwarding(ctx context.Context, ds []Delivery, rs []Release) ([]bool, error) {
	out := make([]bool, len(ds))
	// Rows are touched in key order, like SaveBatch's: a batch upserting
	// machines B then C while this releases C then B deadlocked in
	// PostgreSQL, and each deadlock held both up for a second.
	order := keyOrder(ds, func(d *Delivery) string { return d.ID })
	rs = inKeyOrder(rs, func(r *Release) string { return r.Machine })
	err := s.txLazy(ctx, func(tx *sql.Tx) error {
		for _, i := range order {
			d := ds[i]
			r, err := tx.ExecContext(ctx, s.q(`UPDATE events SET state = 'delivered', delivered_at = ?, response = ?,
				attempts = attempts + 1, last_attempt_at = ?, last_error = '',
				first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ? ELSE first_attempt_at END
				WHERE id = ? AND state = 'pending'`), ms(d.At), string(d.Response), ms(d.At), ms(d.At), d.ID)
			if err != nil {
				return fmt.Errorf("store: mark %s delivered: %w", d.ID, err)
			}
			n, _ := r.RowsAffected()
			out[i] = n == 1
		}
		for _, r := range rs {
			if err := s.release(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// MarkAttempt records a transient failure of a pending event.
func (s *Store) MarkAttempt(ctx context.Context, id string, at time.Time, errText string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE events SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?,
		first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ? ELSE first_attempt_at END
		WHERE id = ? AND state = 'pending'`), ms(at), errText, ms(at), id)
	if err != nil {
		return fmt.Errorf("store: mark attempt on %s: %w", id, err)
	}
	return nil
}
