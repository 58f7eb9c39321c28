package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// postgresDSN returns a DSN for a fresh schema of the database named by
// RVM_TEST_POSTGRES, dropped after the test, or "" when it is unset.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("RVM_TEST_POSTGRES")
	if base == "" {
		return ""
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "t_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// each runs f on SQLite and, when RVM_TEST_POSTGRES is set, on PostgreSQL.
func each(t *testing.T, f func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresDSN(t)
		if dsn == "" {
			t.Skip("RVM_TEST_POSTGRES not set")
		}
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f(t, st)
	})
}

// release ends owner's lease on machine, alone in its commit.
func release(ctx context.Context, st *store.Store, machine, owner string, nextAt time.Time, fails int, arrivals int64) error {
	_, err := st.RecordForwarding(ctx, nil, []store.Release{{Machine: machine, Owner: owner, NextAt: nextAt, Fails: fails, Arrivals: arrivals}})
	return err
}

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func ev(id, machine string, seq int64, kind string, forward bool) store.Event {
	return store.Event{ID: id, Machine: machine, Seq: seq, Kind: kind, Body: []byte(`{}`), Forward: forward, ReceivedAt: t0}
}

func TestSaveBatchDeduplicates(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		res, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("a", "M1", 1, "transaction", true), ev("b", "M1", 2, "heartbeat", false), ev("a", "M1", 1, "transaction", true)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != 2 || res.Duplicates != 1 || !res.Forward {
			t.Errorf("SaveBatch = %+v; want 2 inserted, 1 duplicate, forward", res)
		}
		res, err = st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("b", "M1", 2, "heartbeat", false)}})
		if err != nil || res.Inserted != 0 || res.Duplicates != 1 || res.Forward {
			t.Errorf("SaveBatch(again) = %+v, %v; want 1 duplicate", res, err)
		}
		c, err := st.EventCounts(ctx)
		if err != nil || c[store.StatePending] != 1 || c[store.StateStored] != 1 {
			t.Errorf("EventCounts = %v, %v; want 1 pending, 1 stored", c, err)
		}
	})
}

func TestClaimIsExclusiveAndOrdered(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("x2", "M1", 2, "transaction", true), ev("x1", "M1", 1, "transaction", true), ev("y1", "M2", 1, "transaction", true)}}); err != nil {
			t.Fatal(err)
		}
		a, err := st.ClaimMachines(ctx, "A", t0, time.Minute, 1)
		if err != nil || len(a) != 1 {
			t.Fatalf("ClaimMachines(A) = %v, %v; want one", a, err)
		}
		b, err := st.ClaimMachines(ctx, "B", t0, time.Minute, 10)
		if err != nil || len(b) != 1 || b[0].Machine == a[0].Machine {
			t.Fatalf("ClaimMachines(B) = %v, %v; want the other machine than %v", b, err, a)
		}
		if c, _ := st.ClaimMachines(ctx, "C", t0.Add(59*time.Second), time.Minute, 10); len(c) != 0 {
			t.Errorf("ClaimMachines(C) under lease = %v; want none", c)
		}
		if c, _ := st.ClaimMachines(ctx, "C", t0.Add(time.Minute), time.Minute, 10); len(c) != 2 {
			t.Errorf("ClaimMachines(C) after expiry = %v; want both", c)
		}
		run, err := st.PendingRun(ctx, "M1", 1)
		if err != nil || len(run.Events) != 1 || run.Events[0].ID != "x1" {
			t.Errorf("PendingRun(M1, 1) = %+v, %v; want x1 (lowest seq)", run.Events, err)
		}
		if ok, err := st.MarkDelivered(ctx, "x1", t0, []byte(`{"id":"V"}`)); !ok || err != nil {
			t.Errorf("MarkDelivered(x1) = %v, %v; want true", ok, err)
		}
		if ok, _ := st.MarkDelivered(ctx, "x1", t0, nil); ok {
			t.Errorf("MarkDelivered(x1) twice = true; want false")
		}
		if err := release(ctx, st, "M1", "C", t0.Add(time.Hour), 3, 0); err != nil {
			t.Fatal(err)
		}
		q, err := st.Queue(ctx, "M1")
		if err != nil || q.Pending != 1 || q.Fails != 3 || !q.NextAt.Equal(t0.Add(time.Hour)) || q.LeaseOwner != "" {
			t.Errorf("Queue(M1) = %+v, %v; want 1 pending, 3 fails, next in an hour, released", q, err)
		}
	})
}

// TestPendingRunArrived: a run whose seqs have all arrived says so without
// the states of the seqs between; a gap, or a seq held by another event
// than the one expected, makes it read them.
func TestPendingRunArrived(t *testing.T) {
	type stored struct {
		id      string
		seq     int64
		forward bool
	}
	for _, c := range []struct {
		name      string
		events    []stored
		delivered []string
		limit     int
		seqs      []int64
		base      int64
		arrived   bool
		missing   []int64 // seqs absent from States when not arrived
	}{
		{name: "all arrived", events: []stored{{"a", 1, true}, {"b", 2, false}, {"c", 3, true}},
			limit: 64, seqs: []int64{1, 3}, arrived: true},
		{name: "a gap", events: []stored{{"a", 1, true}, {"c", 3, true}},
			limit: 64, seqs: []int64{1, 3}, missing: []int64{2}},
		{name: "after a delivery", events: []stored{{"a", 1, true}, {"b", 2, false}, {"c", 3, true}}, delivered: []string{"a"},
			limit: 64, seqs: []int64{3}, base: 1, arrived: true},
		{name: "a repeated seq does not fill a gap", events: []stored{{"a", 1, true}, {"c", 3, true}, {"d", 3, false}},
			limit: 64, seqs: []int64{1, 3}, missing: []int64{2}},
		{name: "cut at the limit", events: []stored{{"a", 1, true}, {"b", 2, true}, {"c", 3, true}},
			limit: 2, seqs: []int64{1, 2}, arrived: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				var b store.Batch
				for _, e := range c.events {
					kind := "heartbeat"
					if e.forward {
						kind = "bag-fill-status"
					}
					b.Events = append(b.Events, ev(e.id, "M1", e.seq, kind, e.forward))
				}
				if _, err := st.SaveBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
				for _, id := range c.delivered {
					if ok, err := st.MarkDelivered(ctx, id, t0, []byte(`{}`)); !ok || err != nil {
						t.Fatalf("MarkDelivered(%s) = %v, %v", id, ok, err)
					}
				}
				run, err := st.PendingRun(ctx, "M1", c.limit)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for _, e := range run.Events {
					seqs = append(seqs, e.Seq)
				}
				if !reflect.DeepEqual(seqs, c.seqs) || run.Base != c.base || run.Arrived != c.arrived {
					t.Fatalf("PendingRun = seqs %v, base %d, arrived %v; want %v, %d, %v", seqs, run.Base, run.Arrived, c.seqs, c.base, c.arrived)
				}
				for _, seq := range c.missing {
					if state, ok := run.States[seq]; ok {
						t.Errorf("States[%d] = %q; want it missing", seq, state)
					}
				}
				if !c.arrived && len(run.States) == 0 {
					t.Errorf("States empty for a run that has not all arrived")
				}
			})
		})
	}
}

// TestPendingRunVouchers: a run carries the stored vouchers of its own
// transactions, as the machine's events left them, and no others.
func TestPendingRunVouchers(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		withVoucher := func(e store.Event, v store.Voucher) store.Event {
			e.Vouchers = []store.Voucher{v}
			return e
		}
		b := store.Batch{Events: []store.Event{
			withVoucher(ev("t1", "M1", 1, "transaction", true), store.Voucher{Code: "V1", TransactionID: "t1"}),
			withVoucher(ev("v1", "M1", 2, "voucher", false), store.Voucher{Code: "V1", TransactionID: "t1", Amount: 150, HasAmount: true, Currency: "PLN", ValidUntil: t0.Add(time.Hour)}),
			ev("t2", "M1", 3, "transaction", true),
			withVoucher(ev("t9", "M1", 9, "transaction", true), store.Voucher{Code: "V9", TransactionID: "t9"}),
		}}
		if _, err := st.SaveBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		run, err := st.PendingRun(ctx, "M1", 2)
		if err != nil || len(run.Events) != 2 {
			t.Fatalf("PendingRun(M1, 2) = %+v, %v; want t1 and t2", run.Events, err)
		}
		if len(run.Vouchers) != 1 {
			t.Fatalf("Vouchers = %+v; want V1 only (t2 has none, t9 is not in the run)", run.Vouchers)
		}
		v := run.Vouchers["V1"]
		if v.TransactionID != "t1" || v.Machine != "M1" || !v.HasAmount || v.Amount != 150 || !v.ValidUntil.Equal(t0.Add(time.Hour)) {
			t.Errorf("Vouchers[V1] = %+v; want t1's, of M1, 150 valid for an hour", v)
		}
		// The operator's answer repeats what the machine's events said:
		// nothing to write. Its issue time is news.
		answer := store.Voucher{Code: "V1", Machine: "M1", TransactionID: "t1", ValidUntil: t0.Add(time.Hour)}
		if store.Adds(v, answer) {
			t.Errorf("Adds(%+v, %+v) = true; want false", v, answer)
		}
		if answer.IssuedAt = t0; !store.Adds(v, answer) {
			t.Errorf("Adds(%+v, %+v) = false; want true", v, answer)
		}
	})
}

// A voucher learnt from its voucher event keeps what the event said when
// its transaction names it later.
func TestVoucherKeepsItsAmount(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.PutVoucher(ctx, store.Voucher{Code: "V1", Amount: 150, HasAmount: true, ValidUntil: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		// A transaction naming the voucher later keeps the amount.
		if err := st.PutVoucher(ctx, store.Voucher{Code: "V1", TransactionID: "T1"}); err != nil {
			t.Fatal(err)
		}
		v, err := st.Voucher(ctx, "V1")
		if err != nil || v.Amount != 150 || v.TransactionID != "T1" || !v.ValidUntil.Equal(t0.Add(time.Hour)) {
			t.Errorf("Voucher(V1) = %+v, %v; want amount 150, T1, validity kept", v, err)
		}
	})
}

func TestCatalogVersions(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		p := func(ean, name string) store.Product {
			return store.Product{EAN: ean, Body: []byte(`{"ean":"` + ean + `","name":"` + name + `"}`)}
		}
		tests := []struct {
			products    []store.Product
			full        bool
			wantVersion int64
			wantChanged bool
		}{
			{[]store.Product{p("1", "a"), p("2", "b")}, true, 1, true},
			{[]store.Product{p("1", "a"), p("2", "b")}, true, 1, false},
			{[]store.Product{p("2", "B")}, false, 2, true},
			{[]store.Product{p("2", "B"), p("3", "c")}, true, 3, true}, // 1 removed
		}
		for i, tt := range tests {
			v, changed, err := st.ApplyProducts(ctx, tt.products, tt.full)
			if err != nil || v != tt.wantVersion || changed != tt.wantChanged {
				t.Errorf("ApplyProducts #%d = %d, %v, %v; want %d, %v", i, v, changed, err, tt.wantVersion, tt.wantChanged)
			}
		}
		ups, removed, err := st.ProductsSince(ctx, 2)
		if err != nil || len(ups) != 1 || ups[0].EAN != "3" || len(removed) != 1 || removed[0] != "1" {
			t.Errorf("ProductsSince(2) = %v, %v, %v; want 3 added, 1 removed", ups, removed, err)
		}
		ups, removed, _ = st.ProductsSince(ctx, 0)
		if len(ups) != 2 || len(removed) != 0 {
			t.Errorf("ProductsSince(0) = %d products, %v removed; want 2, none", len(ups), removed)
		}
	})
}

func TestLease(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tests := []struct {
			owner string
			at    time.Duration
			want  bool
		}{
			{"A", 0, true}, {"B", time.Second, false}, {"A", 2 * time.Second, true}, {"B", 62 * time.Second, true}, {"A", 63 * time.Second, false},
		}
		for _, tt := range tests {
			got, err := st.TryLease(ctx, "jobs", tt.owner, t0.Add(tt.at), time.Minute)
			if err != nil || got != tt.want {
				t.Errorf("TryLease(%q, +%v) = %v, %v; want %v", tt.owner, tt.at, got, err, tt.want)
			}
		}
	})
}

// The fleet counters are held back and written later, but the fleet view
// shows them at once, and Close writes them.
func TestFleetCountersHeldBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	day := t0.Format(time.DateOnly)
	for i := range 5 {
		e := ev(fmt.Sprint("c", i), "M1", int64(i+1), "container", false)
		e.Containers, e.Deposits = 1, 50
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{e}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(st *store.Store, when string) {
		t.Helper()
		ms, err := st.Machines(ctx, day)
		if err != nil || len(ms) != 1 || ms[0].ContainersToday != 5 || ms[0].DepositsToday != 250 || !ms[0].LastSeen.Equal(t0) {
			t.Errorf("%s: Machines = %+v, %v; want M1 with 5 containers, 2.50 PLN, seen at %v", when, ms, err, t0)
		}
	}
	check(st, "before Close")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check(st, "after reopening")
}

// TestArrivalWakesAReleasedMachine: a forwarder that releases a machine to
// sleep (waiting for a missing seq) must not put it back to sleep when the
// missing event was stored meanwhile; a backoff after a failure is kept.
func TestArrivalWakesAReleasedMachine(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("z2", "M1", 2, "transaction", true)}}); err != nil {
			t.Fatal(err)
		}
		c, err := st.ClaimMachines(ctx, "A", t0, time.Minute, 1)
		if err != nil || len(c) != 1 {
			t.Fatalf("claim = %v, %v", c, err)
		}
		// seq 1 arrives while A decides to wait for it.
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("z1", "M1", 1, "transaction", true)}}); err != nil {
			t.Fatal(err)
		}
		if err := release(ctx, st, "M1", "A", t0.Add(time.Hour), 0, c[0].Arrivals); err != nil {
			t.Fatal(err)
		}
		if again, _ := st.ClaimMachines(ctx, "B", t0, time.Minute, 1); len(again) != 1 {
			t.Fatalf("after the missing event arrived the machine sleeps: claim = %v", again)
		}
		// A backoff (fails > 0) holds even though events arrived.
		st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("z3", "M1", 3, "transaction", true)}})
		if err := release(ctx, st, "M1", "B", t0.Add(time.Hour), 2, 0); err != nil {
			t.Fatal(err)
		}
		if again, _ := st.ClaimMachines(ctx, "C", t0, time.Minute, 1); len(again) != 0 {
			t.Errorf("a machine backing off was claimed: %v", again)
		}
	})
}

// TestRecordForwarding: a run's last delivery and its machine's release go
// in one commit. A machine whose queue it emptied sleeps until an event
// arrives; one whose events arrived after the claim is due at once, with
// the new event still pending.
func TestRecordForwarding(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		for _, m := range []string{"M1", "M2"} {
			if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev(m+"-1", m, 1, "transaction", true)}}); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := st.ClaimMachines(ctx, "A", t0, time.Minute, 2)
		if err != nil || len(cs) != 2 {
			t.Fatalf("claim = %v, %v", cs, err)
		}
		// M2's next event arrives while A delivers its first.
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("M2-2", "M2", 2, "transaction", true)}}); err != nil {
			t.Fatal(err)
		}
		var ds []store.Delivery
		var rs []store.Release
		for _, c := range cs {
			ds = append(ds, store.Delivery{ID: c.Machine + "-1", At: t0, Response: []byte(`{}`)})
			rs = append(rs, store.Release{Machine: c.Machine, Owner: "A", NextAt: store.Idle, Arrivals: c.Arrivals})
		}
		ok, err := st.RecordForwarding(ctx, ds, rs)
		if err != nil || len(ok) != 2 || !ok[0] || !ok[1] {
			t.Fatalf("RecordForwarding = %v, %v; want both still pending before", ok, err)
		}
		for _, id := range []string{"M1-1", "M2-1"} {
			if e, err := st.Event(ctx, id); err != nil || e.State != store.StateDelivered {
				t.Errorf("%s: state %q, %v; want delivered", id, e.State, err)
			}
		}
		again, err := st.ClaimMachines(ctx, "B", t0, time.Minute, 2)
		if err != nil || len(again) != 1 || again[0].Machine != "M2" {
			t.Errorf("claim after the releases = %v, %v; want M2 alone (M1 has nothing pending)", again, err)
		}
	})
}

// TestRecordForwardingLocksInKeyOrder: the recorder's releases take their
// machines' rows in key order, as SaveBatch does, so that the two cannot
// deadlock in PostgreSQL. Releasing M2 then M1 while M1 is locked must wait
// for M1 without holding M2. The PostgreSQL of two replicas (TestTwoReplicasOnePostgres
// in package gateway) detected such deadlocks a second each, which held
// the forwarder up past its gap wait.
func TestRecordForwardingLocksInKeyOrder(t *testing.T) {
	dsn := postgresDSN(t)
	if dsn == "" {
		t.Skip("RVM_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, m := range []string{"M1", "M2"} {
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev(m+"-1", m, 1, "transaction", true)}}); err != nil {
			t.Fatal(err)
		}
	}
	if cs, err := st.ClaimMachines(ctx, "A", t0, time.Minute, 2); err != nil || len(cs) != 2 {
		t.Fatalf("claim = %v, %v", cs, err)
	}
	db, _ := openRaw(t, dsn)
	defer db.Close()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT machine FROM fwd WHERE machine = 'M1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var holderPID int
	if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&holderPID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := st.RecordForwarding(ctx, nil, []store.Release{
			{Machine: "M2", Owner: "A", NextAt: store.Idle},
			{Machine: "M1", Owner: "A", NextAt: store.Idle},
		})
		done <- err
	}()
	// The recorder waits once it reaches the row the holder locked; the
	// deadline only bounds a broken test.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holderPID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the release never waited for M1's lock")
		}
	}
	probe, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, probeErr := probe.ExecContext(ctx, `SELECT machine FROM fwd WHERE machine = 'M2' FOR UPDATE NOWAIT`)
	_ = probe.Rollback()
	if probeErr != nil {
		t.Errorf("M2 is locked while the release waits for M1: %v; want the rows taken in key order", probeErr)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RecordForwarding: %v", err)
	}
}

// The store sees time through the clock it is given: the fleet counters
// are held back until a second has passed on it, and a binding is stamped
// with its time.
func TestStoreClock(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0.Add(time.Hour))
	path := filepath.Join(t.TempDir(), "gw.db")
	st, err := store.Open(ctx, path, store.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A second store on the file sees what is written, not what is held.
	other, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	day := t0.Format(time.DateOnly)
	tests := []struct {
		advance time.Duration
		want    int64 // containers written for today after the batch
	}{
		{0, 1}, // the first batch writes at once
		{0, 1}, // held back: no time has passed
		{999 * time.Millisecond, 1},
		{time.Millisecond, 4}, // a second on: everything so far
	}
	for i, tt := range tests {
		clk.Advance(tt.advance)
		e := ev(fmt.Sprint("c", i), "M1", int64(i+1), "container", false)
		e.Containers, e.Deposits = 1, 50
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{e}}); err != nil {
			t.Fatal(err)
		}
		ms, err := other.Machines(ctx, day)
		if err != nil || len(ms) != 1 || ms[0].ContainersToday != tt.want {
			t.Errorf("batch %d (+%v): Machines on the file = %+v, %v; want M1 with %d containers", i+1, tt.advance, ms, err, tt.want)
		}
	}
	if err := st.SetRvmID(ctx, "M1", "rvm-1"); err != nil {
		t.Fatal(err)
	}
	bs, err := st.Bindings(ctx)
	if err != nil || len(bs) != 1 || !bs[0].BoundAt.Equal(clk.Now()) {
		t.Errorf("Bindings() = %+v, %v; want M1 bound at %v (the store's clock)", bs, err, clk.Now())
	}
}

// TestPutVoucherSkipsOnlyWhatAddsNothing checks PutVoucher, which does not
// write what adds nothing to the stored voucher, against the upsert that
// always writes: after every pair of a set of voucher shapes, both stores
// hold the same voucher. A shape PutVoucher wrongly took for "adds nothing"
// would leave its store behind.
func TestPutVoucherSkipsOnlyWhatAddsNothing(t *testing.T) {
	shapes := map[string]store.Voucher{
		"event":      {Code: "V", Machine: "M1", RvmID: "R1", TransactionID: "T1", Amount: 150, HasAmount: true, Currency: "PLN", PrintType: 1, IssuedAt: t0, ValidUntil: t0.Add(time.Hour)},
		"answer":     {Code: "V", Machine: "M1", RvmID: "R1", TransactionID: "T1", PrintType: 2, IssuedAt: t0, ValidUntil: t0.Add(2 * time.Hour)},
		"buffer":     {Code: "V", Machine: "M1", RvmID: "R1"},
		"link":       {Code: "V", TransactionID: "T1"},
		"validity":   {Code: "V", ValidUntil: t0.Add(3 * time.Hour)},
		"issued":     {Code: "V", IssuedAt: t0.Add(time.Minute)},
		"other":      {Code: "V", Machine: "M2", RvmID: "R2", TransactionID: "T2"},
		"redeemed":   {Code: "V", Machine: "M1", Status: store.VoucherRedeemed, RedeemType: 2, RedeemedAt: t0.Add(time.Minute)},
		"amountless": {Code: "V", Machine: "M1"},
	}
	for first, a := range shapes {
		for second, b := range shapes {
			t.Run(first+"_then_"+second, func(t *testing.T) {
				ctx := context.Background()
				open := func() *store.Store {
					st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { st.Close() })
					return st
				}
				skipping, always := open(), open()
				for _, v := range []store.Voucher{a, b} {
					if err := skipping.PutVoucher(ctx, v); err != nil {
						t.Fatal(err)
					}
					if err := store.PutVoucherAlways(ctx, always, v); err != nil {
						t.Fatal(err)
					}
				}
				got, err1 := skipping.Voucher(ctx, "V")
				want, err2 := always.Voucher(ctx, "V")
				if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("PutVoucher left %+v (%v); writing always, %+v (%v)", got, err1, want, err2)
				}
			})
		}
	}
	// The operator's answer naming a voucher as the machine's event stored
	// it adds nothing: no commit on the forwarder's path.
	if store.Adds(shapes["event"], shapes["answer"]) {
		t.Error("the operator's answer adds to the voucher its machine's event stored; want nothing to write")
	}
}
