package telemetry_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// gatewayAck publishes the gateway's confirmation of ranges to serial.
func gatewayAck(t testing.TB, url, serial string, ranges ...[2]int64) {
	t.Helper()
	body, err := json.Marshal(envelope.Ack{V: 1, Seqs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	adminPublish(t, url, "", "", envelope.AckTopic(serial), false, body)
}

// seqCounts counts how often each seq arrived on an event topic.
func seqCounts(msgs []message) map[int64]int {
	n := map[int64]int{}
	for _, m := range msgs {
		var e envelope.Envelope
		if strings.Contains(m.topic, "/evt/") && json.Unmarshal(m.payload, &e) == nil {
			n[e.Seq]++
		}
	}
	return n
}

// countsNow is seqCounts of what c received so far; call with c.mu held.
func (c *collector) countsNow() map[int64]int { return seqCounts(c.msgs) }

func stored(t testing.TB, db *sql.DB) int64 {
	t.Helper()
	rows, _, err := outbox.Stored(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A gateway that misses some events and confirms later ones gets exactly
// the missing ones again, once ResendAfter has passed since they were
// sent, and again while it keeps missing them; nothing it confirmed is
// sent again, and every record leaves the disk once confirmed. Time is
// the test's (clock.Settable): nothing is sent again until it moves.
func TestResendsWhatTheGatewayMissed(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	gw := subscribe(t, b.URL(), "rvm/A1/evt/#", subOpts{})
	clk := clock.NewSettable(t0)
	opts := baseOptions(t, b.URL(), "A1")
	opts.Clock, opts.GatewayAcks, opts.ResendAfter = clk, true, time.Hour
	want := fill(t, db, transactions(0, 10)...)
	p := startPublisher(t, db, opts)
	drain(t, p)
	gw.waitEvents(10)
	waitUntil(t, "10 unconfirmed", func() bool { return p.Stats().Unconfirmed == 10 })

	// The gateway committed all but 3, 7 and 8.
	gatewayAck(t, b.URL(), "A1", [2]int64{1, 2}, [2]int64{4, 6}, [2]int64{9, 10})
	waitUntil(t, "the ack recorded", func() bool { return p.Stats().Unconfirmed == 3 })
	if st := p.Stats(); st.GapResent != 0 {
		t.Errorf("before ResendAfter passed: Stats() = %+v; want nothing sent again", st)
	}
	clk.Advance(time.Hour + time.Second)
	gw.waitFor("3, 7 and 8 again", func() bool { c := gw.countsNow(); return c[3] == 2 && c[7] == 2 && c[8] == 2 })

	// It commits 3 and 8 and misses 7 again.
	gatewayAck(t, b.URL(), "A1", [2]int64{3, 3}, [2]int64{8, 8})
	waitUntil(t, "the second ack recorded", func() bool { return p.Stats().Unconfirmed == 1 })
	clk.Advance(time.Hour + time.Second)
	gw.waitFor("7 a third time", func() bool { return gw.countsNow()[7] == 3 })
	gatewayAck(t, b.URL(), "A1", [2]int64{7, 7})
	waitUntil(t, "everything confirmed", func() bool { return p.Stats().Unconfirmed == 0 })
	waitUntil(t, "the outbox swept", func() bool { return stored(t, db) == 0 })

	got := seqCounts(gw.messages())
	wantCounts := map[int64]int{1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 3, 8: 2, 9: 1, 10: 1}
	if fmt.Sprint(got) != fmt.Sprint(wantCounts) {
		t.Errorf("publishes per seq = %v; want %v (exactly the missing ones again)", got, wantCounts)
	}
	if repeats := checkDelivery(t, gw.messages(), "A1", want); repeats != 4 {
		t.Errorf("repeats = %d; want 4, each the same bytes", repeats)
	}
	if st := p.Stats(); st.GapResent != 4 {
		t.Errorf("Stats().GapResent = %d; want 4", st.GapResent)
	}
}

// After a restart the publisher does not know when its unconfirmed
// records were sent: they count as sent at start, and go out again
// ResendAfter later if the gateway confirmed later ones by then.
func TestResendAfterRestart(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	gw := subscribe(t, b.URL(), "rvm/A1/evt/#", subOpts{})
	clk := clock.NewSettable(t0)
	opts := baseOptions(t, b.URL(), "A1")
	opts.Clock, opts.GatewayAcks, opts.ResendAfter = clk, true, time.Hour
	fill(t, db, transactions(0, 5)...)
	first := startPublisher(t, db, opts)
	drain(t, first)
	gw.waitEvents(5)
	first.stop(t)

	clk.Advance(2 * time.Hour) // long after they were sent
	p := startPublisher(t, db, opts)
	fill(t, db, transactions(5, 1)...)
	p.Notify()
	drain(t, p)
	gw.waitEvents(6)
	gatewayAck(t, b.URL(), "A1", [2]int64{6, 6})
	waitUntil(t, "the ack recorded", func() bool { return p.Stats().Unconfirmed == 5 })
	if st := p.Stats(); st.GapResent != 0 {
		t.Errorf("right after the restart: Stats() = %+v; want nothing sent again yet", st)
	}
	clk.Advance(time.Hour + time.Second)
	gw.waitFor("1..5 again", func() bool {
		c := gw.countsNow()
		return c[1] == 2 && c[2] == 2 && c[3] == 2 && c[4] == 2 && c[5] == 2
	})
	gatewayAck(t, b.URL(), "A1", [2]int64{1, 5})
	waitUntil(t, "everything confirmed", func() bool { return p.Stats().Unconfirmed == 0 })
	if got := seqCounts(gw.messages()); got[6] != 1 {
		t.Errorf("seq 6, confirmed, was published %d times; want 1", got[6])
	}
}

// Without GatewayAcks the broker's PUBACK is enough: the outbox empties on
// a bare broker. With them, the records stay until the gateway confirms.
func TestPubackEnoughWithoutGatewayAcks(t *testing.T) {
	tests := []struct {
		name        string
		gatewayAcks bool
	}{
		{"without gateway acks", false},
		{"with gateway acks", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testbroker.Start(t)
			db, _ := newDB(t)
			opts := baseOptions(t, b.URL(), "A1")
			opts.GatewayAcks = tt.gatewayAcks
			fill(t, db, transactions(0, 20)...)
			p := startPublisher(t, db, opts)
			drain(t, p)
			if !tt.gatewayAcks {
				waitUntil(t, "the outbox swept", func() bool { return stored(t, db) == 0 })
				return
			}
			waitUntil(t, "the PUBACKs recorded", func() bool { return p.Stats().Unconfirmed == 20 })
			if n := stored(t, db); n != 20 {
				t.Errorf("stored = %d with nothing confirmed; want 20", n)
			}
			gatewayAck(t, b.URL(), "A1", [2]int64{1, 20})
			waitUntil(t, "the outbox swept", func() bool { return stored(t, db) == 0 })
		})
	}
}

// With GatewayAcks a machine sends at most ConfirmWindow records beyond the
// highest seq the gateway confirmed: the rest wait in its outbox until the
// gateway confirms more (after an outage the backlog stays on the
// machine's disk, not in the broker's memory). A record the gateway
// missed does not hold the window: a later confirmation moves it on.
func TestConfirmWindow(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	gw := subscribe(t, b.URL(), "rvm/A1/evt/#", subOpts{})
	opts := baseOptions(t, b.URL(), "A1")
	opts.GatewayAcks, opts.ConfirmWindow, opts.ResendAfter = true, 5, time.Hour
	fill(t, db, transactions(0, 14)...)
	p := startPublisher(t, db, opts)

	steps := []struct {
		ack  [2]int64 // the gateway's confirmation before the step (none for the first)
		sent int      // records sent once it is recorded: highest confirmed + 5
	}{
		{[2]int64{0, 0}, 5},
		{[2]int64{1, 3}, 8},
		{[2]int64{5, 6}, 11}, // 4 is missed: 6 moves the window on
		{[2]int64{7, 14}, 14},
	}
	for _, st := range steps {
		if st.ack[0] > 0 {
			gatewayAck(t, b.URL(), "A1", st.ack)
		}
		gw.waitFor(fmt.Sprintf("%d records", st.sent), func() bool { return len(gw.countsNow()) >= st.sent })
		// Their PUBACKs recorded: a window that did not hold would have
		// sent the whole outbox long before.
		waitUntil(t, "the PUBACKs recorded", func() bool {
			s := p.Stats()
			return s.Acked >= uint64(st.sent)
		})
		if got := len(seqCounts(gw.messages())); got != st.sent {
			t.Fatalf("after confirming %v: %d records sent; want %d", st.ack, got, st.sent)
		}
	}
}
