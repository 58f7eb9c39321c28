package machine_test

import (
	"context"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// batches counts the "containers" events in the outbox.
func batches(t *testing.T, led *ledger.Ledger) int {
	t.Helper()
	var n int
	if err := led.DB().QueryRow(`SELECT count(*) FROM outbox WHERE kind = 'containers'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// setLink tells the controller on l whether the fleet link is up.
func setLink(t *testing.T, l *machine.Loop, up bool) {
	t.Helper()
	if _, err := l.Do(context.Background(), func(_ context.Context, c *machine.Controller) (any, error) {
		c.SetLink(up)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A batch goes for its age (5 s) only while the fleet link is up; offline
// it waits, and goes once the link is back.
func TestBatchAgeWaitsForLink(t *testing.T) {
	for _, tc := range []struct {
		name     string
		down     bool // the link is down from the start
		afterAge int  // batches 5 s after the container
		afterUp  int  // batches once the link is (or stays) up
	}{
		{name: "link up", afterAge: 1, afterUp: 1},
		{name: "link down", down: true, afterAge: 0, afterUp: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, led, _, events, clk := open(t, true)
			l, _, stop, done := run(c)
			defer func() { stop(); <-done }()
			if tc.down {
				setLink(t, l, false)
			}
			handBack(t, l, events, clk)
			if n := batches(t, led); n != 0 {
				t.Fatalf("batches right after one container = %d; want 0", n)
			}
			for range 2 { // the batch's age, then well past it
				clk.Advance(5 * time.Second)
				until(t, l, "the clock advanced", func(*machine.Controller) bool { return true })
			}
			if n := batches(t, led); n != tc.afterAge {
				t.Errorf("batches 10 s after the container = %d; want %d", n, tc.afterAge)
			}
			setLink(t, l, true)
			until(t, l, "the batch after the link came up", func(*machine.Controller) bool { return batches(t, led) == tc.afterUp })
			until(t, l, "the session still open", func(c *machine.Controller) bool { return c.SessionOpen() })
		})
	}
}

// Offline, a full batch still goes at once: the count bound holds.
func TestBatchCountWhileLinkDown(t *testing.T) {
	c, led, _, events, clk := open(t, true)
	l, _, stop, done := run(c)
	defer func() { stop(); <-done }()
	setLink(t, l, false)
	for i := range 250 { // Options.ContainerBatchMax's default
		if n := batches(t, led); n != 0 {
			t.Fatalf("batches after %d containers = %d; want 0", i, n)
		}
		handBack(t, l, events, clk)
	}
	if n := batches(t, led); n != 1 {
		t.Errorf("batches after 250 containers, offline = %d; want 1", n)
	}
}

// handBack inserts a container without a barcode and waits until it was
// handed back (and noted for the session's next batch).
func handBack(t *testing.T, l *machine.Loop, events chan<- hal.Event, clk *clock.Fake) {
	t.Helper()
	events <- hal.Event{Kind: hal.EntryBlocked, At: clk.Now()}
	events <- hal.Event{Kind: hal.ChamberBlocked, At: clk.Now()}
	events <- hal.Event{Kind: hal.EntryBlocked, At: clk.Now()}
	until(t, l, "the container handed back", func(c *machine.Controller) bool { return c.AtRest() })
}
