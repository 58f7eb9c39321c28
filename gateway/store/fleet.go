package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
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

func (s *Store) writeSignals(ctx context.Context, tx *sql.Tx, sigs map[[2]string]int64) error {
	keys := make([][2]string, 0, len(sigs))
	for k := range sigs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO machine_signals(machine, signal, n) VALUES (?, ?, ?)
			ON CONFLICT(machine, signal) DO UPDATE SET n = machine_signals.n + excluded.n`), k[0], k[1], sigs[k]); err != nil {
			return fmt.Errorf("store: signals of %s: %w", k[0], err)
		}
	}
	return nil
}

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
