package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// fleet stands for the gateway: it keeps each event once by id, as the
// gateway's store does, and counts what the batches carry.
type fleet struct{ events map[string]outbox.Record }

// publish hands every outbox record to the fleet (again, for those it
// already has: a delivery not acknowledged before a power cut is repeated).
func (f *fleet) publish(t *testing.T, l *Ledger) []int64 {
	t.Helper()
	recs, err := outbox.Pending(context.Background(), l.DB(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]int64, 0, len(recs))
	for _, r := range recs {
		if old, ok := f.events[r.ID]; ok && string(old.Body) != string(r.Body) {
			t.Errorf("event %s sent again with another body:\n%s\n%s", r.ID, old.Body, r.Body)
		}
		f.events[r.ID] = r
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

// containers counts the containers of the fleet's batches by decision time.
func (f *fleet) containers(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range f.events {
		if r.Kind != envelope.KindContainers {
			continue
		}
		var b envelope.ContainerBatch
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Containers {
			out[c.DecidedAt]++
		}
	}
	return out
}

// TestBatchesThroughPowerCuts cuts the power after every step of a batch's
// life (containers noted, the batch written, sent, acknowledged, the next
// containers, the session's last batch and transaction written, sent,
// acknowledged), restarts on the same file, recovers as the controller does
// (an open session is finished) and sends what the outbox holds. The fleet
// sees every container exactly once, whatever the instant.
func TestBatchesThroughPowerCuts(t *testing.T) {
	ctx := context.Background()
	decided := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	type state struct {
		l      *Ledger
		s      *Session
		bag    string
		n      int     // containers recorded
		sent   []int64 // seqs sent, not yet acknowledged
		f      *fleet
		finish func(at time.Time)
		record func()
		t      *testing.T
	}
	steps := []struct {
		name string
		do   func(st *state)
	}{
		{"first container noted", func(st *state) { st.record() }},
		{"second container noted", func(st *state) { st.record() }},
		{"batch written", func(st *state) {
			if ok, err := st.l.FlushContainers(ctx, st.s.ID); err != nil || !ok {
				st.t.Fatalf("FlushContainers() = %v, %v; want true, nil", ok, err)
			}
		}},
		{"batch sent", func(st *state) { st.sent = st.f.publish(st.t, st.l) }},
		{"batch acknowledged", func(st *state) {
			if err := outbox.Ack(ctx, st.l.DB(), st.sent...); err != nil {
				st.t.Fatal(err)
			}
			st.sent = nil
		}},
		{"third container noted", func(st *state) { st.record() }},
		{"last batch and transaction written", func(st *state) { st.finish(decided(10)) }},
		{"last batch sent", func(st *state) { st.sent = st.f.publish(st.t, st.l) }},
		{"last batch acknowledged", func(st *state) {
			if err := outbox.Ack(ctx, st.l.DB(), st.sent...); err != nil {
				st.t.Fatal(err)
			}
		}},
	}
	for cut := 0; cut <= len(steps); cut++ {
		name := "before any step"
		if cut > 0 {
			name = "after " + steps[cut-1].name
		}
		t.Run(fmt.Sprint(cut, " ", name), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.db")
			l, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := l.EnsureBag(ctx, 1, 0, t0)
			if err != nil {
				t.Fatal(err)
			}
			st := &state{l: l, s: &Session{RvmID: "r", BagID: b.ID, StartedAt: t0}, bag: b.ID, f: &fleet{events: map[string]outbox.Record{}}, t: t}
			st.record = func() {
				c := &Container{BagID: st.bag, EAN: "5900449000287", WeightMg: 21300, Deposit: 50, State: Rejected, Cause: drsapi.CauseNotAccepted, DecidedAt: decided(st.n)}
				if err := st.l.RecordContainer(ctx, st.s, c); err != nil {
					t.Fatal(err)
				}
				st.n++
			}
			st.finish = func(at time.Time) {
				if _, _, err := st.l.FinishSession(ctx, Finish{SessionID: st.s.ID, RvmID: "r", EndedAt: at, Payout: "voucher",
					Build: func(*Voucher) drsapi.Transaction { return drsapi.Transaction{ID: st.s.ID} }}); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range steps[:cut] {
				s.do(st)
			}
			// The power cut: the process forgets everything but the file.
			l.Close()
			if st.l, err = Open(path); err != nil {
				t.Fatal(err)
			}
			defer st.l.Close()
			// Recovery: an open session is finished, its last batch with it.
			var open int
			if err := st.l.DB().QueryRow(`SELECT count(*) FROM sessions WHERE ended_at IS NULL`).Scan(&open); err != nil {
				t.Fatal(err)
			}
			if open == 1 {
				st.finish(decided(20))
			}
			seqs := st.f.publish(t, st.l)
			if err := outbox.Ack(ctx, st.l.DB(), seqs...); err != nil {
				t.Fatal(err)
			}
			got := st.f.containers(t)
			for i := 0; i < st.n; i++ {
				if k := decided(i).Format(time.RFC3339Nano); got[k] != 1 {
					t.Errorf("container %d reached the fleet %d times; want 1", i, got[k])
				}
			}
			if len(got) != st.n {
				t.Errorf("the fleet has %d containers; want %d", len(got), st.n)
			}
			if n, err := st.l.Unbatched(ctx, st.s.ID); err != nil || n != 0 {
				t.Errorf("Unbatched() = %d, %v; want 0, nil", n, err)
			}
		})
	}
}
