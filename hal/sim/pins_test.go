package sim

import (
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/hal/periph/barrier"
	belt "github.com/deposit-rvm/rvm/hal/periph/conveyor"
	"github.com/deposit-rvm/rvm/hal/periph/metal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testhal"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

func newPins(t *testing.T) (*clock.Fake, *Machine, *Pins) {
	t.Helper()
	clk := clock.NewFake(t0)
	m, err := New(clk, DefaultConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	return clk, m, m.Pins()
}

func running(m *Machine) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// The conveyor driver's dead-man limit on the rig: a jammed belt never
// brings the container to the chamber, the driver's timer (a step of the
// machine's schedule) runs out on the simulated clock, and the driver stops
// the motor and reports ConveyorHalted at that instant.
func TestPinsDeadManLimit(t *testing.T) {
	_, m, p := newPins(t)
	events := make(chan hal.Event, 4)
	c, err := belt.New(p.Pin(PinDir), p.Pin(PinEnable), &belt.Opts{
		Clock: p.Clock()}, events)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Insert(Container{Code: "5901234123457", Mass: 25 * physic.Gram}); err != nil {
		t.Fatal(err)
	}
	if ev, _, _ := m.Pop(); ev.Kind != hal.EntryBlocked {
		t.Fatalf("Pop() = %v; want %v", ev.Kind, hal.EntryBlocked)
	}
	m.InjectFault(hal.FaultJam)
	if ev, _, _ := m.Pop(); ev.Kind != hal.DeviceFault {
		t.Fatalf("Pop() = %v; want %v", ev.Kind, hal.DeviceFault)
	}
	if err := c.Forward(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !running(m) {
		t.Errorf("belt after Forward: not running; want running")
	}
	ev, _, ok := m.Pop()
	if !ok || ev.Kind != hal.ConveyorHalted || !ev.At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("Pop() = %v at %v; want the dead-man timer due at %v", ev.Kind, ev.At, t0.Add(2*time.Second))
	}
	if got := testhal.Drain(events); len(got) != 0 {
		t.Errorf("driver reported %v before its timer ran; want nothing", got)
	}
	if !p.FireDue() {
		t.Fatalf("FireDue() = false; want the driver's callback run")
	}
	if ev := testhal.Recv(t, events); ev.Kind != hal.ConveyorHalted || !ev.At.Equal(t0.Add(2*time.Second)) {
		t.Errorf("driver reported %v at %v; want %v at %v", ev.Kind, ev.At, hal.ConveyorHalted, t0.Add(2*time.Second))
	}
	if running(m) || c.Running() {
		t.Errorf("after the limit: belt running %t, driver running %t; want both stopped", running(m), c.Running())
	}
	if p.FireDue() {
		t.Errorf("FireDue() twice = true; want false")
	}

	// A run stopped before its limit leaves nothing scheduled.
	m.ClearFaults()
	for {
		if _, _, ok := m.Pop(); !ok {
			break
		}
	}
	c.Reverse(time.Second)
	c.Stop()
	if at, ok := m.NextAt(); ok {
		t.Errorf("after Stop: a step at %v; want none (the timer was cancelled)", at)
	}
}

// Barrier and door events become levels the real barrier driver reports;
// the metal line reads the sensor.
func TestPinsLines(t *testing.T) {
	clk, _, p := newPins(t)
	events := make(chan hal.Event, 4)
	opts := barrier.Opts{Debounce: time.Nanosecond, Poll: 10 * time.Millisecond, Clock: clk}
	for _, x := range []struct {
		role     string
		on, off  hal.EventKind
		activeLo bool
	}{
		{PinEntry, hal.EntryBlocked, hal.EntryCleared, true},
		{PinDoor, hal.DoorOpened, hal.DoorClosed, false},
	} {
		o := opts
		o.Active, o.Inactive, o.ActiveLow = x.on, x.off, x.activeLo
		b, err := barrier.New(p.Pin(x.role), &o, events)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Halt()
	}
	for _, k := range []hal.EventKind{hal.EntryBlocked, hal.DoorOpened, hal.EntryCleared, hal.DoorClosed} {
		if !p.Drive(k) {
			t.Fatalf("Drive(%v) = false; want a level change", k)
		}
		if ev := testhal.Recv(t, events); ev.Kind != k {
			t.Errorf("after Drive(%v) the driver reported %v", k, ev.Kind)
		}
	}
	if p.Drive(hal.DoorClosed) || p.Drive(hal.BarcodeRead) {
		t.Errorf("Drive of a line already there, or of an event without a line = true; want false")
	}

	ms, err := metal.New(p.Pin(PinMetal), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ms.Metal(); got {
		t.Errorf("Metal() with an empty chamber = true; want false")
	}
	if l := p.Pin(PinMetal).Read(); l != gpio.High {
		t.Errorf("metal line with an empty chamber = %v; want High (NPN idle)", l)
	}
}
