package service

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/deposit-rvm/rvm/calib"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

// cell is a load cell whose readings the test sets.
type cell struct {
	mu   sync.Mutex
	raws []int32 // cycled through
	i    int
}

func (c *cell) String() string { return "test-cell" }
func (c *cell) Halt() error    { return nil }
func (c *cell) ReadRaw() (int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.raws[c.i%len(c.raws)]
	c.i++
	return v, nil
}
func (c *cell) set(raws ...int32) {
	c.mu.Lock()
	c.raws, c.i = raws, 0
	c.mu.Unlock()
}

type metal struct{}

func (metal) String() string       { return "test-metal" }
func (metal) Halt() error          { return nil }
func (metal) Metal() (bool, error) { return false, nil }

type belt struct{}

func (belt) String() string                { return "test-belt" }
func (belt) Halt() error                   { return nil }
func (belt) Forward(d time.Duration) error { return nil }
func (belt) Reverse(d time.Duration) error { return nil }
func (belt) Stop() error                   { return nil }

// flap is a test gate that records its pulses.
type flap struct{ pulses []time.Duration }

func (*flap) String() string                { return "test-gate" }
func (*flap) Halt() error                   { return nil }
func (f *flap) Pulse(d time.Duration) error { f.pulses = append(f.pulses, d); return nil }

// bench is a real controller on test cells, its loop a mutex, and the
// console's server in front of it.
type bench struct {
	srv     *Server
	led     *ledger.Ledger
	bag     *cell
	chamber *cell
	gate    *flap
	c       *machine.Controller
}

// bagSheet is the bag cell's factors: 21 counts a gram.
var bagSheet = calib.Calibration{Offset: 0, CountsPerKg: 21_000, Resolution: physic.Gram}

func newBench(t *testing.T, opts ...func(*Options)) *bench {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, "rvmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		cal  ledger.Cal
	}{
		{machine.CellBag, ledger.Cal{Offset: 0, CountsPerKg: 21_000, ResolutionMg: 1000, At: now, By: "factory"}},
		{machine.CellChamber, ledger.Cal{Offset: 0, CountsPerKg: 420_000, ResolutionMg: 100, At: now, By: "factory"}},
	} {
		if err := led.SetCalibration(ctx, c.name, c.cal, "test"); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := HashPIN("1234")
	if err := led.SetPIN(ctx, h, now); err != nil {
		t.Fatal(err)
	}
	b := &bench{led: led, bag: &cell{raws: []int32{0}}, chamber: &cell{raws: []int32{0}}, gate: &flap{}}
	b.c, err = machine.New(ctx, machine.Devices{Chamber: b.chamber, Bag: b.bag, Metal: metal{}, Conveyor: belt{}, Gate: b.gate}, led,
		machine.Options{Clock: clock.NewFake(now), RvmID: "4a1c0b7e-0000-4000-8000-000000000001", DriftLimit: 20 * physic.Gram})
	if err != nil {
		t.Fatal(err)
	}
	var loop sync.Mutex
	do := func(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
		loop.Lock()
		defer loop.Unlock()
		return f(ctx, b.c)
	}
	o := Options{Path: filepath.Join(dir, "s.sock"), Do: do, Ledger: led, Samples: 5, SampleEvery: time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	b.srv, err = Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.srv.Serve(sctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

// session logs a console in.
func (b *bench) session(t *testing.T) *wire.Conn {
	t.Helper()
	c, err := wire.Dial(b.srv.Path(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if r, err := c.Do(wire.Request{Cmd: "login", PIN: "1234"}); err != nil || !r.OK {
		t.Fatalf("login = %+v, %v", r, err)
	}
	return c
}

func do(t *testing.T, c *wire.Conn, cmd string, kv ...string) wire.Reply {
	t.Helper()
	args := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		args[kv[i]] = kv[i+1]
	}
	r, err := c.Do(wire.Request{Cmd: cmd, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (b *bench) bagCal(t *testing.T) calib.Calibration {
	t.Helper()
	_, cal, err := b.c.Cell(machine.CellBag)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func TestTareRefusedWhileUnstable(t *testing.T) {
	b := newBench(t)
	c := b.session(t)
	b.bag.set(0, 300, 10, 290) // swinging over 14 g
	r := do(t, c, "calib tare")
	if r.OK || r.Code != wire.CodeRefused || !strings.Contains(r.Error, "unstable") {
		t.Errorf("calib tare on a swinging scale = %+v; want refused, unstable", r)
	}
	if st := b.c.Status(); len(st.Blocked) != 0 {
		t.Errorf("after a refused tare intake is blocked by %v; want open", st.Blocked)
	}
	b.bag.set(1000, 1004, 998)
	if r := do(t, c, "calib tare"); !r.OK || !strings.Contains(r.Text, "tared at 1000 counts") {
		t.Errorf("calib tare on a still scale = %+v; want tared at 1000", r)
	}
	if st := b.c.Status(); len(st.Blocked) != 1 || st.Blocked[0] != machine.BlockService {
		t.Errorf("while calibrating intake is blocked by %v; want service", st.Blocked)
	}
}

func TestSpanChecks(t *testing.T) {
	b := newBench(t)
	c := b.session(t)
	if r := do(t, c, "calib span", "grams", "2000"); r.Code != wire.CodeRefused || !strings.Contains(r.Error, "calib tare") {
		t.Errorf("span before a tare = %+v; want refused, tare first", r)
	}
	b.bag.set(1000)
	do(t, c, "calib tare")
	b.bag.set(1500) // 500 counts: within MinSpan of the tare
	if r := do(t, c, "calib span", "grams", "2000"); r.Code != wire.CodeRefused || !strings.Contains(r.Error, "too close") {
		t.Errorf("span near the tare = %+v; want refused, too close", r)
	}
	if r := do(t, c, "calib span", "grams", "51000"); r.Code != wire.CodeRefused || !strings.Contains(r.Error, "capacity") {
		t.Errorf("span over capacity = %+v; want refused, capacity", r)
	}
	b.bag.set(calib.RailHigh)
	if r := do(t, c, "calib span", "grams", "2000"); r.Code != wire.CodeRefused || !strings.Contains(r.Error, "saturated") {
		t.Errorf("span at the ADC rail = %+v; want refused, saturated", r)
	}
	if r := do(t, c, "calib span", "grams", "-5"); r.Code != wire.CodeUsage {
		t.Errorf("span -grams -5 = %+v; want a usage error", r)
	}
	// 2 kg and 5 kg on a cell of 22 counts a gram.
	b.bag.set(1000 + 44_000)
	if r := do(t, c, "calib span", "grams", "2000"); !r.OK {
		t.Fatalf("span 2000 = %+v", r)
	}
	if got := b.bagCal(t); got != bagSheet {
		t.Errorf("factors in use before accept = %v; want the old %v", got, bagSheet)
	}
	b.bag.set(1000 + 110_000)
	r := do(t, c, "calib span", "grams", "5000")
	if !r.OK || !strings.Contains(r.Text, "linearity over 2 references") {
		t.Fatalf("span 5000 = %+v; want a linearity report", r)
	}
	if r := do(t, c, "calib accept"); !r.OK {
		t.Fatalf("accept = %+v", r)
	}
	want := calib.Calibration{Offset: 1000, CountsPerKg: 22_000, Resolution: physic.Gram}
	if got := b.bagCal(t); got != want {
		t.Errorf("factors after accept = %v; want %v", got, want)
	}
	if st := b.c.Status(); len(st.Blocked) != 0 {
		t.Errorf("after accept intake is blocked by %v; want open", st.Blocked)
	}
	hs, err := b.led.CalibrationHistory(context.Background(), machine.CellBag)
	if err != nil || len(hs) != 1 || hs[0].Old.CountsPerKg != 21_000 || hs[0].New.CountsPerKg != 22_000 ||
		!strings.Contains(hs[0].Refs, "5000.000 g at 111000 counts") || !strings.HasPrefix(hs[0].By, "console-") {
		t.Errorf("calibration history = %+v, %v; want 21000 -> 22000 by a console with both references", hs, err)
	}
}

func TestAbortKeepsFactors(t *testing.T) {
	b := newBench(t)
	c := b.session(t)
	b.bag.set(0)
	do(t, c, "calib tare")
	b.bag.set(50_000)
	do(t, c, "calib span", "grams", "2000")
	if r := do(t, c, "calib abort"); !r.OK {
		t.Fatalf("abort = %+v", r)
	}
	if got := b.bagCal(t); got != bagSheet {
		t.Errorf("factors after abort = %v; want %v", got, bagSheet)
	}
	if r := do(t, c, "calib accept"); r.OK {
		t.Errorf("accept after abort = %+v; want refused", r)
	}
}

func TestBusyScale(t *testing.T) {
	b := newBench(t)
	guided, other := b.session(t), b.session(t)
	b.bag.set(0)
	if r := do(t, guided, "calib tare", "hold", "true"); !r.OK {
		t.Fatalf("guided tare = %+v", r)
	}
	for _, cmd := range []string{"calib tare", "calib span", "calib accept", "calib abort"} {
		if r := do(t, other, cmd, "grams", "2000"); r.Code != wire.CodeBusy || !strings.Contains(r.Error, "being calibrated by console-") {
			t.Errorf("second session %s = %+v; want busy", cmd, r)
		}
	}
	// The chamber scale is free.
	if r := do(t, other, "calib tare", "scale", "chamber"); !r.OK {
		t.Errorf("second session tares the chamber = %+v; want ok", r)
	}
	// A guided session does not take over a one-shot calibration.
	if r := do(t, guided, "calib tare", "scale", "chamber", "hold", "true"); r.Code != wire.CodeBusy {
		t.Errorf("guided tare over a one-shot chamber calibration = %+v; want busy", r)
	}
	guided.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(t, other, "calib tare")
		if r.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bag scale is still busy after the guided session closed: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDriftWatch(t *testing.T) {
	b := newBench(t)
	c := b.session(t)
	b.bag.set(0)
	if r := do(t, c, "bag exchange", "seal", "SEAL-0001"); !r.OK || strings.Contains(r.Text, "WARNING") {
		t.Fatalf("bag exchange on a steady scale = %+v; want no warning", r)
	}
	b.bag.set(21 * 100) // the empty bag now weighs 100 g more
	r := do(t, c, "bag exchange", "seal", "SEAL-0002")
	if !r.OK || !strings.Contains(r.Text, "SERVICE WARNING") || !strings.Contains(r.Text, "+100.0 g") {
		t.Errorf("bag exchange on a drifted scale = %+v; want a service warning of +100 g", r)
	}
	if st := do(t, c, "status"); !strings.Contains(st.Text, "SERVICE WARNING") {
		t.Errorf("status after drift = %q; want the service warning", st.Text)
	}
	var n int
	if err := b.led.DB().QueryRow(`SELECT count(*) FROM outbox WHERE kind = 'service-warning' AND body LIKE '%"driftMg":100000%'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d service-warning events with driftMg 100000 (%v); want 1", n, err)
	}
	// Calibrating the bag scale clears the warning.
	do(t, c, "calib tare")
	b.bag.set(2100 + 42_000)
	do(t, c, "calib span", "grams", "2000")
	if r := do(t, c, "calib accept"); !r.OK {
		t.Fatalf("accept = %+v", r)
	}
	if st := do(t, c, "status"); strings.Contains(st.Text, "SERVICE WARNING") {
		t.Errorf("status after calibrating the bag scale = %q; want the warning cleared", st.Text)
	}
}

func TestActuate(t *testing.T) {
	b := newBench(t)
	c := b.session(t)
	if r := do(t, c, "actuate", "device", "gate", "ms", "200"); r.Code != wire.CodeRefused || !strings.Contains(r.Error, "service on") {
		t.Errorf("actuate gate with intake open = %+v; want refused until service on", r)
	}
	do(t, c, "service", "mode", "on")
	tests := []struct {
		device, ms string
		code       string
	}{
		{"gate", "200", ""},
		{"conveyor", "5000", ""},
		{"conveyor", "5001", wire.CodeRefused}, // over the 5 s dead-man limit
		{"gate", "0", wire.CodeUsage},
		{"door", "100", wire.CodeUsage},
	}
	for _, tt := range tests {
		if r := do(t, c, "actuate", "device", tt.device, "ms", tt.ms); r.Code != tt.code {
			t.Errorf("actuate %s -ms %s = %+v; want code %q", tt.device, tt.ms, r, tt.code)
		}
	}
	if got := b.gate.pulses; len(got) != 1 || got[0] != 200*time.Millisecond {
		t.Errorf("gate pulsed %v; want once for 200ms", got)
	}
	if r := do(t, c, "bag exchange"); r.Code != wire.CodeUsage || !strings.Contains(r.Error, "-seal CODE is required") {
		t.Errorf("bag exchange without a seal on real hardware = %+v; want -seal required", r)
	}
}
