package machine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// rig is a minimal machine: constant cells, a conveyor that logs its
// commands, an event channel the test feeds.
type rig struct {
	mu      sync.Mutex
	chamber int32 // raw counts
	moves   []string
}

type rigCell struct {
	r   *rig
	bag bool
}

func (c rigCell) String() string { return "rigCell" }
func (c rigCell) Halt() error    { return nil }
func (c rigCell) ReadRaw() (int32, error) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.bag {
		return 0, nil
	}
	return c.r.chamber, nil
}

type rigBelt struct{ r *rig }

func (b rigBelt) String() string { return "rigBelt" }
func (b rigBelt) Halt() error    { return b.Stop() }
func (b rigBelt) log(s string) error {
	b.r.mu.Lock()
	b.r.moves = append(b.r.moves, s)
	b.r.mu.Unlock()
	return nil
}
func (b rigBelt) Forward(time.Duration) error { return b.log("forward") }
func (b rigBelt) Reverse(time.Duration) error { return b.log("reverse") }
func (b rigBelt) Stop() error                 { return b.log("stop") }

func (r *rig) commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.moves)
}

// open returns a controller on a fresh ledger, calibrated or not, with the
// event channel and the fake clock it runs on.
func open(t *testing.T, calibrated bool) (*machine.Controller, *ledger.Ledger, *rig, chan hal.Event, *clock.Fake) {
	t.Helper()
	ctx := context.Background()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "rvm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	if calibrated {
		calibrate(t, led)
	}
	r := &rig{chamber: 30_000} // 30 g at 1e6 counts/kg
	events := make(chan hal.Event)
	clk := clock.NewFake(t0)
	dev := machine.Devices{Chamber: rigCell{r, false}, Bag: rigCell{r, true}, Metal: metal{}, Conveyor: rigBelt{r}, Events: events}
	c, err := machine.New(ctx, dev, led, machine.Options{Clock: clk, RvmID: "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba"})
	if err != nil {
		t.Fatalf("machine.New: %v", err)
	}
	return c, led, r, events, clk
}

func calibrate(t *testing.T, led *ledger.Ledger) {
	t.Helper()
	for _, name := range []string{machine.CellChamber, machine.CellBag} {
		if err := led.SetCalibration(context.Background(), name, ledger.Cal{CountsPerKg: 1_000_000, ResolutionMg: 100, At: t0, By: "test"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// until asks the loop, act after act, until f holds.
func until(t *testing.T, l *machine.Loop, what string, f func(c *machine.Controller) bool) {
	t.Helper()
	for i := 0; i < 10000; i++ {
		v, err := l.Do(context.Background(), func(ctx context.Context, c *machine.Controller) (any, error) { return f(c), nil })
		if err != nil {
			t.Fatalf("Do while waiting for %s: %v", what, err)
		}
		if v.(bool) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the loop never reached: %s", what)
}

// run starts c's loop; stop ends it and done gets what Run returned.
func run(c *machine.Controller) (l *machine.Loop, ctx context.Context, stop func(), done <-chan error) {
	l = machine.NewLoop(c)
	ctx, stop = context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- l.Run(ctx) }()
	return l, ctx, stop, ch
}

func TestLoop(t *testing.T) {
	c, led, r, events, clk := open(t, true)
	l, ctx, stop, done := run(c)

	// A container without a barcode: taken in, weighed, handed back.
	events <- hal.Event{Kind: hal.EntryBlocked, At: clk.Now()}
	events <- hal.Event{Kind: hal.ChamberBlocked, At: clk.Now()}
	events <- hal.Event{Kind: hal.EntryBlocked, At: clk.Now()}
	until(t, l, "the container handed back", func(c *machine.Controller) bool { return c.AtRest() })
	if got, want := r.commands(), []string{"forward", "stop", "reverse", "stop"}; !slices.Equal(got, want) {
		t.Errorf("rigBelt commands = %v; want %v", got, want)
	}
	if st := c.Status(); !st.SessionOpen {
		t.Errorf("Status().SessionOpen = false after an insert; want true")
	}

	// The idle timeout is a deadline on the loop's clock.
	clk.Advance(29 * time.Second)
	until(t, l, "29 s idle", func(c *machine.Controller) bool { return true })
	if !c.Status().SessionOpen {
		t.Errorf("session ended 1 s before its idle timeout")
	}
	clk.Advance(time.Second)
	until(t, l, "the idle timeout", func(c *machine.Controller) bool { return !c.SessionOpen() })
	var n int
	if err := led.DB().QueryRow(`SELECT count(*) FROM outbox WHERE kind = 'transaction'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("outbox after the session = %d, %v; want 1 transaction", n, err)
	}

	// An act's value and error come back to its caller.
	boom := errors.New("boom")
	if v, err := l.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return c.Status().State, boom }); v != "idle" || err != boom {
		t.Errorf("Do = %v, %v; want idle, boom", v, err)
	}

	stop()
	if err := <-done; err != nil {
		t.Errorf("Run after stop = %v; want nil", err)
	}
	if _, err := l.Do(context.Background(), func(context.Context, *machine.Controller) (any, error) { return nil, nil }); !errors.Is(err, machine.ErrStopped) {
		t.Errorf("Do after the loop ended = %v; want ErrStopped", err)
	}
}

// A stop while a container is on its way lets it come to rest (here by
// the trip's watchdog) and finishes the customer's session.
func TestLoopStopFinishesSession(t *testing.T) {
	c, _, _, events, clk := open(t, true)
	l, _, stop, done := run(c)
	events <- hal.Event{Kind: hal.EntryBlocked, At: clk.Now()}
	until(t, l, "the trip started", func(c *machine.Controller) bool { return !c.AtRest() })
	stop()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with a container on its way", err)
	case <-time.After(10 * time.Millisecond):
	}
	clk.Advance(time.Minute) // the trip's watchdog: a jam
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
	if st := c.Status(); st.SessionOpen || st.Fault != string(hal.FaultJam) {
		t.Errorf("after the stop: session open %v, fault %q; want false, %q", st.SessionOpen, st.Fault, hal.FaultJam)
	}
}

func TestUncalibrated(t *testing.T) {
	c, led, _, _, _ := open(t, false)
	st := c.Status()
	if !slices.Contains(st.Blocked, machine.BlockUncalibrated) || c.IntakeOpen() {
		t.Errorf("uncalibrated: Blocked %v, IntakeOpen %v; want %q, false", st.Blocked, c.IntakeOpen(), machine.BlockUncalibrated)
	}
	if machine.BlockUncalibrated != "scale not calibrated" {
		t.Errorf("BlockUncalibrated = %q; want %q", machine.BlockUncalibrated, "scale not calibrated")
	}
	if err := c.Recalibrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Status().Blocked, machine.BlockUncalibrated) {
		t.Errorf("Recalibrate with no calibration unblocked intake")
	}
	calibrate(t, led)
	if err := c.Recalibrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); len(st.Blocked) != 0 || !c.IntakeOpen() {
		t.Errorf("calibrated: Blocked %v, IntakeOpen %v; want none, true", st.Blocked, c.IntakeOpen())
	}
}
