package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/internal/money"
)

// QuarantineCount returns how many refused messages the quarantine holds.
func (s *Store) QuarantineCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.rd.QueryRowContext(ctx, `SELECT count(*) FROM quarantine`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: quarantine count: %w", err)
	}
	return n, nil
}

// Signals a machine's events add to its running totals (machine_signals).
const (
	// SignalCause is the prefix of the count of containers decided with a
	// rejection cause: "cause-0" counts the accepted ones.
	SignalCause = "cause-"
	// SignalTransactions counts transactions; SignalBlocked those the
	// fraud rule blocked.
	SignalTransactions = "transactions"
	SignalBlocked      = "blocked"
)

// Signals returns every machine's running totals by signal, with those
// not yet written (see SaveBatch) added.
func (s *Store) Signals(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT machine, signal, n FROM machine_signals`)
	if err != nil {
		return nil, fmt.Errorf("store: signals: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	add := func(m, sig string, n int64) {
		if out[m] == nil {
			out[m] = map[string]int64{}
		}
		out[m][sig] += n
	}
	for rows.Next() {
		var m, sig string
		var n int64
		if err := rows.Scan(&m, &sig, &n); err != nil {
			return nil, fmt.Errorf("store: signals: %w", err)
		}
		add(m, sig, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: signals: %w", err)
	}
	s.tallyMu.Lock()
	for k, n := range s.pending.sigs {
		add(k[0], k[1], n)
	}
	s.tallyMu.Unlock()
	return out, nil
}

// FleetContainers returns the containers the whole fleet credited on day
// ("2006-01-02", UTC), with the counters not yet written.
func (s *Store) FleetContainers(ctx context.Context, day string) (int64, error) {
	var n int64
	if err := s.rd.QueryRowContext(ctx, s.q(`SELECT COALESCE(sum(containers), 0) FROM machine_days WHERE day = ?`), day).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: fleet containers: %w", err)
	}
	s.tallyMu.Lock()
	for k, d := range s.pending.days {
		if k[1] == day {
			n += d[0]
		}
	}
	s.tallyMu.Unlock()
	return n, nil
}

// hourOf is the hour key of t: "2006-01-02T15", UTC.
func hourOf(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

// Hour is one hour's credited containers and deposits.
type Hour struct {
	Start      time.Time
	Containers int64
	Deposits   money.Grosze
}

// Hours returns the n hours up to and including the one of now, oldest
// first, for machine (all machines when machine is ""), with the counters
// not yet written.
func (s *Store) Hours(ctx context.Context, machine string, now time.Time, n int) ([]Hour, error) {
	first := now.UTC().Truncate(time.Hour).Add(-time.Duration(n-1) * time.Hour)
	out := make([]Hour, n)
	idx := map[string]int{}
	for i := range out {
		out[i].Start = first.Add(time.Duration(i) * time.Hour)
		idx[hourOf(out[i].Start)] = i
	}
	q := `SELECT hour, COALESCE(sum(containers), 0), COALESCE(sum(deposits), 0) FROM machine_hours WHERE hour >= ?`
	args := []any{hourOf(first)}
	if machine != "" {
		q += ` AND machine = ?`
		args = append(args, machine)
	}
	rows, err := s.rd.QueryContext(ctx, s.q(q+` GROUP BY hour`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: hours: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		var c, d int64
		if err := rows.Scan(&h, &c, &d); err != nil {
			return nil, fmt.Errorf("store: hours: %w", err)
		}
		if i, ok := idx[h]; ok {
			out[i].Containers += c
			out[i].Deposits += money.Grosze(d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: hours: %w", err)
	}
	s.tallyMu.Lock()
	for k, d := range s.pending.hrs {
		if i, ok := idx[k[1]]; ok && (machine == "" || k[0] == machine) {
			out[i].Containers += d[0]
			out[i].Deposits += money.Grosze(d[1])
		}
	}
	s.tallyMu.Unlock()
	return out, nil
}

// State is a change of a machine's state, online flag or fault, as its
// retained status reported it.
type State struct {
	At     time.Time
	Online bool
	State  string
	Fault  string
}

// AddStates records state changes, by machine, in one commit (a change
// recorded twice is kept once): a fleet coming back after an outage sends
// ten thousand statuses within seconds, and a commit each would be ten
// thousand fsyncs.
func (s *Store) AddStates(ctx context.Context, changes map[string][]State) error {
	if len(changes) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, machine := range sortedKeys(changes) {
			for _, st := range changes[machine] {
				online := 0
				if st.Online {
					online = 1
				}
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO machine_states(machine, at, online, state, fault) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT(machine, at) DO NOTHING`), machine, ms(st.At), online, st.State, st.Fault); err != nil {
					return fmt.Errorf("store: state of %s: %w", machine, err)
				}
			}
		}
		return nil
	})
}

// States returns the last limit state changes of machine, newest first.
func (s *Store) States(ctx context.Context, machine string, limit int) ([]State, error) {
	rows, err := s.rd.QueryContext(ctx, s.q(`SELECT at, online, state, fault FROM machine_states WHERE machine = ? ORDER BY at DESC LIMIT ?`), machine, limit)
	if err != nil {
		return nil, fmt.Errorf("store: states of %s: %w", machine, err)
	}
	defer rows.Close()
	var out []State
	for rows.Next() {
		var st State
		var at int64
		var online int
		if err := rows.Scan(&at, &online, &st.State, &st.Fault); err != nil {
			return nil, fmt.Errorf("store: states of %s: %w", machine, err)
		}
		st.At, st.Online = fromMS(at), online == 1
		out = append(out, st)
	}
	return out, rows.Err()
}

// MachineEvents returns machine's events of kind received since since
// (every machine's when machine is ""), oldest first, at most limit.
func (s *Store) MachineEvents(ctx context.Context, machine, kind string, since time.Time, limit int) ([]Event, error) {
	q := `SELECT id, machine, rvm_id, seq, kind, ts, body, received_at FROM events WHERE kind = ? AND received_at >= ?`
	args := []any{kind, ms(since)}
	if machine != "" {
		q += ` AND machine = ?`
		args = append(args, machine)
	}
	rows, err := s.rd.QueryContext(ctx, s.q(q+` ORDER BY received_at LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: %s events: %w", kind, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var body string
		var at int64
		if err := rows.Scan(&e.ID, &e.Machine, &e.RvmID, &e.Seq, &e.Kind, &e.TS, &body, &at); err != nil {
			return nil, fmt.Errorf("store: %s events: %w", kind, err)
		}
		e.Body, e.ReceivedAt = []byte(body), fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// chunkSizes are the row counts of a multi-row statement, largest first:
// rows go in chunks of these sizes only, so that a handful of statement
// texts serve every batch and each is prepared once (the statement cache,
// see Open). 9 parameters times 256 rows stays far below SQLite's and
// PostgreSQL's parameter limits.
var chunkSizes = [...]int{256, 64, 16, 4, 1}

// chunked splits rows into chunks of chunkSizes, largest first.
func chunked(rows [][]any) [][][]any {
	var out [][][]any
	for _, n := range chunkSizes {
		for len(rows) >= n {
			out = append(out, rows[:n])
			rows = rows[n:]
		}
	}
	return out
}

// valuesStatement is head VALUES (?, ...), ... tail for n rows of cols
// columns.
func valuesStatement(head, tail string, n, cols int) string {
	var b strings.Builder
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	b.Grow(len(head) + len(tail) + n*(len(row)+2) + 10)
	b.WriteString(head)
	b.WriteString(" VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ")
	b.WriteString(tail)
	return b.String()
}

// flatten returns the arguments of rows in order.
func flatten(rows [][]any) []any {
	args := make([]any, 0, len(rows)*len(rows[0]))
	for _, r := range rows {
		args = append(args, r...)
	}
	return args
}

// upsert runs head VALUES (...), (...) tail for rows, in chunks.
func (s *Store) upsert(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any) error {
	for _, chunk := range chunked(rows) {
		if _, err := tx.ExecContext(ctx, s.q(valuesStatement(head, tail, len(chunk), len(chunk[0]))), flatten(chunk)...); err != nil {
			return err
		}
	}
	return nil
}

// sortedPairs returns the keys of m in order.
func sortedPairs[V any](m map[[2]string]V) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	return keys
}

// pairRows turns (machine, key) -> (containers, deposits) counts into rows.
func pairRows(m map[[2]string][2]int64) [][]any {
	rows := make([][]any, 0, len(m))
	for _, k := range sortedPairs(m) {
		rows = append(rows, []any{k[0], k[1], m[k][0], m[k][1]})
	}
	return rows
}
