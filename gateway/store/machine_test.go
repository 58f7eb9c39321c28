package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// A machine's page reads its row by two index searches, by serial or by
// rvmId: a scan of the machines table, as the query made before migration
// 0006, costs a fleet of 10,000 machines a full read per page view.
func TestMachineLookupUsesIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := strings.Join(queryPlan(t, db, store.MachineByKey, "2026-05-01", "RVM-1", "rvm"), "; ")
	if strings.Contains(got, "SCAN m") || !strings.Contains(got, "machines_rvm_id") {
		t.Errorf("query plan of Store.Machine = %s; want index searches on serial and machines_rvm_id, no scan", got)
	}
}

// A machine first seen less than a second ago has its counters held back
// (see TestStoreClock) and no row yet: its page finds it all the same, as
// the fleet list does, where it answered 404 until the counters were
// written.
func TestMachineFirstSeenBeforeFlush(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0.Add(time.Hour))
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gw.db"), store.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The store's first batch writes the counters at once; the next ones
	// within the second are held.
	if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("h1", "M-OLD", 1, "heartbeat", false)}}); err != nil {
		t.Fatal(err)
	}
	e := ev("b1", "M-NEW", 1, "containers", false)
	e.Containers, e.Deposits = 2, 100
	if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{e}}); err != nil {
		t.Fatal(err)
	}
	day := t0.Format(time.DateOnly)
	m, err := st.Machine(ctx, "M-NEW", day)
	if err != nil || m.Serial != "M-NEW" || m.ContainersToday != 2 || m.DepositsToday != 100 {
		t.Errorf("Machine(M-NEW) = %+v, %v; want M-NEW with 2 containers, 1.00 today", m, err)
	}
	if _, err := st.Machine(ctx, "M-NONE", day); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Machine(M-NONE) = %v; want ErrNotFound", err)
	}
}

// The SQLite writer commits durably (an event is acknowledged to its
// machine only once committed: synchronous FULL in WAL mode) and keeps the
// cache the peak was measured with.
func TestWriterSettings(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"},      // FULL
		{"cache_size", "-262144"}, // 256 MiB: the indexes every insert touches
		{"foreign_keys", "1"},
	} {
		got, err := store.WriterPragma(st, c.pragma)
		if err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	if got, err := store.ReaderPragma(st, "cache_size"); err != nil || got != "-32768" {
		t.Errorf("reader's PRAGMA cache_size = %s, %v; want -32768 (32 MiB)", got, err)
	}
}

// The forwarder's bookkeeping commits without waiting for the disk (see
// txLazy), on the writer's one connection: after each of those commits, and
// after one whose context had ended, the connection is back to synchronous
// FULL for the events' commits.
func TestLazyCommitsLeaveTheWriterDurable(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("t1", "M1", 1, "transaction", true)}}); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		op   func(context.Context) error
		ok   bool
	}{
		{"claim", func(ctx context.Context) error {
			cs, err := st.ClaimMachines(ctx, "A", t0, time.Minute, 10)
			if err == nil && len(cs) != 1 {
				err = fmt.Errorf("claimed %v, want M1", cs)
			}
			return err
		}, true},
		{"renew", func(ctx context.Context) error {
			ok, err := st.RenewLease(ctx, "M1", "A", t0.Add(2*time.Minute))
			if err == nil && !ok {
				err = errors.New("lease lost")
			}
			return err
		}, true},
		{"record delivery", func(ctx context.Context) error {
			ok, err := st.RecordForwarding(ctx, []store.Delivery{{ID: "t1", At: t0, Response: []byte(`{}`)}}, nil)
			if err == nil && !ok[0] {
				err = errors.New("t1 was not pending")
			}
			return err
		}, true},
		{"release", func(ctx context.Context) error { return release(ctx, st, "M1", "A", store.Idle, 0, 0) }, true},
		{"claim, context ended", func(context.Context) error {
			_, err := st.ClaimMachines(canceled, "A", t0, time.Minute, 10)
			return err
		}, false},
	} {
		err := c.op(ctx)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
		if got, err := store.WriterPragma(st, "synchronous"); err != nil || got != "2" {
			t.Errorf("after %s: PRAGMA synchronous = %s, %v; want 2 (FULL)", c.name, got, err)
		}
	}
	e, err := st.Event(ctx, "t1")
	if err != nil || e.State != store.StateDelivered {
		t.Errorf("Event(t1) = %+v, %v; want delivered", e, err)
	}
}

// TestRunSpanReadsNoRows: PendingRun's counts of a run's seqs read the
// indexes only. A machine's rows lie all over the table after an outage,
// and reading them was a tenth of the CPU of an hour's backlog's delivery.
func TestRunSpanReadsNoRows(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var searches []string
	for _, detail := range queryPlan(t, store.Reader(st), store.RunSpan(st), "M1", 1, 9, "M1", 1, 9) {
		if strings.HasPrefix(detail, "SEARCH") || strings.HasPrefix(detail, "SCAN events") {
			searches = append(searches, detail)
		}
	}
	if len(searches) != 2 {
		t.Fatalf("query plan searches %q; want two", searches)
	}
	for _, d := range searches {
		if !strings.Contains(d, "COVERING INDEX") {
			t.Errorf("query plan step %q reads rows; want a covering index", d)
		}
	}
}

// queryPlan returns the steps of SQLite's plan for query.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
