package sim

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/physic"
)

// step pops one event and says what it was, as "at kind".
func step(t *testing.T, m *Machine) string {
	t.Helper()
	ev, cut, ok := m.Pop()
	if !ok {
		return "nothing"
	}
	s := ev.At.Sub(t0).String() + " " + ev.Kind.String()
	if ev.Kind == hal.DeviceFault {
		s += " " + string(ev.Fault)
	}
	if cut != CutNone {
		s += " cut=" + cut.String()
	}
	return s
}

func steps(t *testing.T, m *Machine, n int) []string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, step(t, m))
	}
	return out
}

func newMachine(t *testing.T, cfg Config) (*Machine, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	m, err := New(clk, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, clk
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = [%s]; want [%s]", what, strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

func TestInsertBusy(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	if err := m.Insert(bottle()); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if err := m.Insert(bottle()); !errors.Is(err, ErrChuteBusy) {
		t.Errorf("second Insert = %v; want %v", err, ErrChuteBusy)
	}
	if !m.Busy() {
		t.Errorf("Busy() = false with a container at the entry; want true")
	}
}

func TestZeroTimingOrder(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.Timing = ZeroTiming()
	c := newCtl(t, cfg, nil)
	c.insert(bottle())
	c.run()
	var kinds []string
	for _, l := range c.log {
		if !strings.HasPrefix(l, "     0ms ") {
			t.Errorf("event %q not at 0ms with zero timing", l)
		}
		kinds = append(kinds, strings.Fields(l)[1])
	}
	check(t, "events", kinds, []string{"entry-blocked", "entry-cleared", "barcode-read", "chamber-blocked", "chamber", "chamber-cleared", "exit-blocked", "exit-cleared"})
	if len(c.m.InBag()) != 1 {
		t.Errorf("len(InBag()) = %d; want 1", len(c.m.InBag()))
	}
}

func TestStopMidMove(t *testing.T) {
	m, clk := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	check(t, "insert", steps(t, m, 1), []string{"0s entry-blocked"})
	conv.Forward(limit)
	check(t, "forward", steps(t, m, 1), []string{"100ms entry-cleared"})
	conv.Stop()
	if at, ok := m.NextAt(); ok {
		t.Errorf("NextAt() after Stop = %v; want nothing scheduled", at)
	}
	clk.Advance(time.Minute)
	if got, _ := m.MetalSensor().Metal(); got {
		t.Errorf("Metal() = true with the container stopped before the chamber")
	}
	// A later run restarts from between the barriers: the scan is still to come.
	conv.Forward(limit)
	check(t, "resume", steps(t, m, 2), []string{"1m0.2s barcode-read", "1m0.4s chamber-blocked"})
	conv.Stop()
	check(t, "after", steps(t, m, 1), []string{"nothing"})
}

func TestDeadManLimit(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	if err := conv.Forward(0); !errors.Is(err, ErrLimit) {
		t.Errorf("Forward(0) = %v; want %v", err, ErrLimit)
	}
	step(t, m)
	conv.Forward(150 * time.Millisecond) // too short to reach the chamber
	check(t, "short run", steps(t, m, 3), []string{"100ms entry-cleared", "150ms conveyor-halted", "nothing"})

	// A belt left running after its move finished stops without a word.
	conv.Forward(time.Second)
	check(t, "long run", steps(t, m, 3), []string{"250ms barcode-read", "450ms chamber-blocked", "nothing"})
}

func TestJam(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	step(t, m)
	conv.Forward(limit)
	step(t, m) // entry-cleared at 100ms
	m.InjectFault(hal.FaultJam)
	check(t, "jam", steps(t, m, 2), []string{"100ms device-fault jam", "5s conveyor-halted"})
	conv.Reverse(time.Second)
	check(t, "jammed reverse", steps(t, m, 2), []string{"6s conveyor-halted", "nothing"})
	if !m.Busy() {
		t.Fatalf("Busy() = false with a jammed container; want true")
	}
	m.ClearFaults()
	if m.Busy() {
		t.Errorf("Busy() = true after the technician removed the jammed container")
	}
	check(t, "cleared", steps(t, m, 1), []string{"nothing"})

	// A jam in the chamber: the technician's hand clears the chamber barrier.
	m.Insert(bottle())
	step(t, m)
	conv.Forward(limit)
	steps(t, m, 3)
	conv.Stop()
	m.InjectFault(hal.FaultJam)
	m.InjectFault(hal.FaultDoorOpen)
	m.ClearFaults()
	check(t, "chamber jam", steps(t, m, 5), []string{"6.4s device-fault jam", "6.4s door-opened", "6.4s chamber-cleared", "6.4s door-closed", "nothing"})
}

func TestJamSparesFallingContainer(t *testing.T) {
	m, clk := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	step(t, m)
	conv.Forward(limit)
	steps(t, m, 3)
	conv.Forward(limit)
	check(t, "to exit", steps(t, m, 2), []string{"400ms chamber-cleared", "700ms exit-blocked"})
	m.InjectFault(hal.FaultJam)
	conv.Stop()
	check(t, "falls", steps(t, m, 2), []string{"700ms exit-cleared", "700ms device-fault jam"})
	clk.Advance(time.Second)
	if got := bagMass(t, m); got != 25*physic.Gram {
		t.Errorf("bag scale after the fall = %v; want 25g", got)
	}
}

func TestScannerDeadMidTrip(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	step(t, m)
	conv.Forward(limit)
	check(t, "to scanner", steps(t, m, 1), []string{"100ms entry-cleared"})
	m.InjectFault(hal.FaultScannerDead)
	if at, ok := m.NextAt(); !ok || !at.Equal(t0.Add(100*time.Millisecond)) {
		t.Errorf("NextAt() = %v, %t; want the fault at 100ms", at, ok)
	}
	check(t, "dead scanner", steps(t, m, 3), []string{"100ms device-fault scanner-dead", "400ms chamber-blocked", "nothing"})
}

func TestSensorFault(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	m.InjectFault(hal.FaultSensor)
	if _, err := m.ChamberCell().ReadRaw(); !errors.Is(err, ErrSensor) {
		t.Errorf("ReadRaw() with a sensor fault = %v; want %v", err, ErrSensor)
	}
	m.ClearFaults()
	if _, err := m.ChamberCell().ReadRaw(); err != nil {
		t.Errorf("ReadRaw() after ClearFaults = %v; want nil", err)
	}
}

// The bag scale shows a landing at its time even if the runner advances the
// clock to a controller deadline instead of popping.
func TestLandingSeenAtDeadline(t *testing.T) {
	m, clk := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	step(t, m)
	conv.Forward(limit)
	steps(t, m, 3)
	conv.Forward(limit)
	check(t, "exit", steps(t, m, 3), []string{"400ms chamber-cleared", "700ms exit-blocked", "700ms exit-cleared"})
	conv.Stop()
	if !m.Busy() {
		t.Errorf("Busy() = false while the container falls; want true")
	}
	clk.Set(t0.Add(899 * time.Millisecond))
	if got := bagMass(t, m); got != 0 {
		t.Errorf("bag scale at 899ms = %v; want 0g (lands at 900ms)", got)
	}
	clk.Set(t0.Add(900 * time.Millisecond))
	if got := bagMass(t, m); got != 25*physic.Gram {
		t.Errorf("bag scale at 900ms = %v; want 25g", got)
	}
	if m.Busy() {
		t.Errorf("Busy() = true after the landing; want false")
	}
}

func TestCuts(t *testing.T) {
	tests := []struct {
		cut     CutPhase
		barcode Barcode
		want    []string // the log's last lines
		inBag   int
	}{
		{CutScanned, BarcodeOK, []string{`   200ms CUT scanned (event barcode-read)`}, 0},
		{CutScanned, BarcodeMissing, []string{`   200ms CUT scanned (event unknown)`}, 0},
		{CutChamber, BarcodeOK, []string{`   400ms   chamber 25g metal=false shape=230000x65000um`, `   400ms CUT chamber (event unknown)`}, 0},
		{CutBag, BarcodeOK, []string{`   700ms exit-cleared`, `   900ms CUT bag (event unknown)`}, 1},
	}
	for _, tt := range tests {
		cfg := DefaultConfig(1)
		cfg.ChamberCell.NoiseCounts = 0
		c := newCtl(t, cfg, nil)
		c.insert(with(bottle(), func(x *Container) { x.CutAt = tt.cut; x.Barcode = tt.barcode }))
		c.run()
		for i, l := range c.log {
			c.log[i] = roundShape(l)
		}
		got := c.log[max(0, len(c.log)-len(tt.want)):]
		check(t, "cut "+tt.cut.String()+" "+tt.barcode.String(), got, tt.want)
		if !slices.Equal(c.cuts, []Cut{tt.cut}) {
			t.Errorf("cut %v: cuts = %v; want [%v]", tt.cut, c.cuts, tt.cut)
		}
		if c.m.Busy() {
			t.Errorf("cut %v: Busy() after PowerRestored = true; want false", tt.cut)
		}
		if got := len(c.m.InBag()); got != tt.inBag {
			t.Errorf("cut %v: len(InBag()) = %d; want %d", tt.cut, got, tt.inBag)
		}
		// The machine works on after the restart, and the cut does not recur.
		c.insert(with(bottle(), func(x *Container) { x.CutAt = CutNone }))
		c.run()
		if got := len(c.m.InBag()); got != tt.inBag+1 {
			t.Errorf("cut %v: len(InBag()) after the next trip = %d; want %d", tt.cut, got, tt.inBag+1)
		}
	}
}

func TestPowerRestoredLandsFallingContainer(t *testing.T) {
	m, _ := newMachine(t, DefaultConfig(1))
	m.Insert(bottle())
	conv := m.Conveyor()
	step(t, m)
	conv.Forward(limit)
	steps(t, m, 3)
	conv.Forward(limit)
	steps(t, m, 2) // chamber-cleared, exit-blocked
	m.PowerRestored()
	if got := len(m.InBag()); got != 1 {
		t.Errorf("len(InBag()) after a cut past the exit barrier = %d; want 1", got)
	}
	if m.Busy() {
		t.Errorf("Busy() after PowerRestored = true; want false")
	}
}

func TestExchangeBag(t *testing.T) {
	c := newCtl(t, DefaultConfig(3), nil)
	for _, g := range []physic.Mass{25, 31, 400} {
		c.insert(with(bottle(), func(x *Container) { x.Mass = g * physic.Gram }))
		c.run()
	}
	if got := bagMass(t, c.m); got != 456*physic.Gram {
		t.Errorf("bag scale = %v; want 456g", got)
	}
	removed, n := c.m.ExchangeBag()
	if removed != 456*physic.Gram || n != 3 {
		t.Errorf("ExchangeBag() = %v, %d; want 456g, 3", removed, n)
	}
	if got := bagMass(t, c.m); got != 0 {
		t.Errorf("bag scale after the exchange = %v; want 0g", got)
	}
	if got := len(c.m.Dropped()); got != 3 {
		t.Errorf("len(Dropped()) = %d; want 3", got)
	}
	var ids []int64
	for _, x := range c.m.Dropped() {
		ids = append(ids, x.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3}) {
		t.Errorf("dropped IDs = %v; want [1 2 3]", ids)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.Timing.ToChamber = c.Timing.ToScanner - 1 },
		func(c *Config) { c.Timing.ToBag = -1 },
		func(c *Config) { c.ChamberCell.CountsPerKg = 0 },
		func(c *Config) { c.BagCell.NoiseCounts = -1 },
	}
	for i, f := range bad {
		cfg := DefaultConfig(1)
		f(&cfg)
		if _, err := New(clock.NewFake(t0), cfg); err == nil {
			t.Errorf("New(bad config %d: %+v) = nil error; want an error", i, cfg)
		}
	}
	if _, err := New(nil, DefaultConfig(1)); err == nil {
		t.Errorf("New(nil clock) = nil error; want an error")
	}
}
