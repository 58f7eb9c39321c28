package periph

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/gpio"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// recv takes the next event; the deadline only keeps a broken watcher from
// hanging the test run, it asserts nothing about timing.
func recv(t *testing.T, ch <-chan hal.Event) hal.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event")
		return hal.Event{}
	}
}

func drain(ch <-chan hal.Event) []string {
	var out []string
	for {
		select {
		case ev := <-ch:
			out = append(out, ev.Kind.String())
		default:
			return out
		}
	}
}

func TestBarrier(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		idle      gpio.Level
	}{
		{"active low", true, gpio.High},
		{"active high", false, gpio.Low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin := newFakePin("GPIO17", tt.idle)
			clk := clock.NewFake(t0)
			events := make(chan hal.Event, 16)
			b, err := NewBarrier(pin, hal.EntryBlocked, hal.EntryCleared,
				&SwitchOpts{ActiveLow: tt.activeLow, Poll: 10 * time.Millisecond, Clock: clk, Sleep: func(time.Duration) {}}, events)
			if err != nil {
				t.Fatalf("NewBarrier: %v", err)
			}
			defer b.Halt()
			if b.Active() {
				t.Errorf("Active() with the beam intact = true; want false")
			}
			pin.set(!tt.idle)
			if ev := recv(t, events); ev.Kind != hal.EntryBlocked || !ev.At.Equal(t0) {
				t.Errorf("beam broken: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.EntryBlocked, t0)
			}
			if !b.Active() {
				t.Errorf("Active() with the beam broken = false; want true")
			}
			clk.Advance(time.Second)
			pin.set(tt.idle)
			if ev := recv(t, events); ev.Kind != hal.EntryCleared || !ev.At.Equal(t0.Add(time.Second)) {
				t.Errorf("beam restored: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.EntryCleared, t0.Add(time.Second))
			}
		})
	}
}

// A level that does not hold for the debounce time is not reported.
func TestBarrierDebounce(t *testing.T) {
	pin := newFakePin("GPIO17", gpio.High)
	events := make(chan hal.Event, 16)
	var mu sync.Mutex
	bounce := true
	bounced := make(chan bool, 1)
	sleep := func(time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if bounce {
			bounce = false
			pin.set(gpio.High) // the beam flickered back during the debounce
			bounced <- true
		}
	}
	b, err := NewBarrier(pin, hal.ExitBlocked, hal.ExitCleared, &SwitchOpts{ActiveLow: true, Poll: 10 * time.Millisecond, Sleep: sleep}, events)
	if err != nil {
		t.Fatalf("NewBarrier: %v", err)
	}
	pin.set(gpio.Low)
	<-bounced
	pin.set(gpio.Low)
	recv(t, events)
	pin.set(gpio.High)
	recv(t, events)
	b.Halt()
	// Everything the watcher sent is in the channel now.
	if got := drain(events); len(got) != 0 {
		t.Errorf("events after one break and one clear: extra %v; want none (the flicker is no event)", got)
	}
}

func TestDoorPolling(t *testing.T) {
	pin := newFakePin("GPIO27", gpio.Low)
	pin.noEdges = true
	events := make(chan hal.Event, 16)
	d, err := NewDoor(pin, &SwitchOpts{Debounce: time.Millisecond}, events)
	if err != nil {
		t.Fatalf("NewDoor: %v", err)
	}
	defer d.Halt()
	pin.set(gpio.High)
	if ev := recv(t, events); ev.Kind != hal.DoorOpened {
		t.Errorf("door switch high: event %v; want %v", ev.Kind, hal.DoorOpened)
	}
	pin.set(gpio.Low)
	if ev := recv(t, events); ev.Kind != hal.DoorClosed {
		t.Errorf("door switch low: event %v; want %v", ev.Kind, hal.DoorClosed)
	}
}

// Halt ends the watcher even while it is stuck sending to a channel nobody
// reads.
func TestSwitchHaltWhileSending(t *testing.T) {
	pin := newFakePin("GPIO17", gpio.Low)
	events := make(chan hal.Event) // nobody reads
	s, err := NewSwitch(pin, &SwitchOpts{Active: hal.ChamberBlocked, Inactive: hal.ChamberCleared, Poll: 10 * time.Millisecond, Sleep: func(time.Duration) {}}, events)
	if err != nil {
		t.Fatalf("NewSwitch: %v", err)
	}
	pin.set(gpio.High)
	for !s.Active() { // the watcher has seen it and is about to send
		time.Sleep(time.Millisecond)
	}
	s.Halt()
	s.Halt() // idempotent
	select {
	case <-s.done:
	default:
		t.Errorf("watcher still running after Halt")
	}
}

func TestNewSwitchErrors(t *testing.T) {
	ch := make(chan hal.Event)
	tests := []struct {
		opts *SwitchOpts
		out  chan hal.Event
	}{
		{nil, ch},
		{&SwitchOpts{Active: hal.EntryBlocked}, ch},
		{&SwitchOpts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared}, nil},
		{&SwitchOpts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared, Debounce: -1}, ch},
	}
	for _, tt := range tests {
		if s, err := NewSwitch(newFakePin("P", gpio.Low), tt.opts, tt.out); err == nil {
			s.Halt()
			t.Errorf("NewSwitch(%+v, %v) = nil error; want an error", tt.opts, tt.out)
		}
	}
}

// motor wires two fake enable pins that log every change and fail the test
// the moment both directions are on.
func motor(t *testing.T, activeLow bool) (fwd, rev *fakePin, log *[]string) {
	off := gpio.Level(activeLow)
	fwd, rev = newFakePin("fwd", off), newFakePin("rev", off)
	var l []string
	for _, p := range []*fakePin{fwd, rev} {
		p.onOut = func(lvl gpio.Level) {
			l = append(l, fmt.Sprintf("%s=%v", p.name, lvl))
			if fwd.Read() != off && rev.Read() != off {
				t.Errorf("both directions on after %v", l)
			}
		}
	}
	return fwd, rev, &l
}

func TestConveyor(t *testing.T) {
	fwd, rev, log := motor(t, false)
	clk := clock.NewFake(t0)
	events := make(chan hal.Event, 4)
	c, err := NewConveyor(fwd, rev, &ConveyorOpts{Clock: clk}, events)
	if err != nil {
		t.Fatalf("NewConveyor: %v", err)
	}
	check := func(what string, want ...string) {
		t.Helper()
		if !slices.Equal(*log, want) {
			t.Errorf("%s: pins %v; want %v", what, *log, want)
		}
		*log = nil
	}
	check("new", "fwd=Low", "rev=Low")

	if err := c.Forward(0); err == nil {
		t.Errorf("Forward(0) = nil error; want ErrLimit")
	}
	c.Forward(2 * time.Second)
	check("forward", "rev=Low", "fwd=High")
	if at, ok := clk.Next(); !ok || !at.Equal(t0.Add(2*time.Second)) {
		t.Errorf("dead-man timer due at %v, %v; want %v", at, ok, t0.Add(2*time.Second))
	}
	c.Reverse(3 * time.Second)
	check("reverse replaces forward", "fwd=Low", "rev=High")
	clk.Advance(2 * time.Second) // the forward run's limit: replaced, nothing happens
	check("replaced run's limit")
	if got := drain(events); len(got) != 0 {
		t.Errorf("replaced run's limit sent %v; want nothing", got)
	}

	clk.Advance(time.Second)
	check("dead-man limit", "fwd=Low", "rev=Low")
	if ev := recv(t, events); ev.Kind != hal.ConveyorHalted || !ev.At.Equal(t0.Add(3*time.Second)) {
		t.Errorf("at the limit: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.ConveyorHalted, t0.Add(3*time.Second))
	}

	c.Forward(time.Second)
	*log = nil
	c.Stop()
	c.Stop()
	check("stop", "fwd=Low", "rev=Low", "fwd=Low", "rev=Low")
	clk.Advance(time.Second)
	if got := drain(events); len(got) != 0 {
		t.Errorf("timer after Stop sent %v; want nothing", got)
	}
	// A limit that fires anyway after a newer command does nothing.
	c.Forward(time.Second)
	c.expire(0)
	if got := drain(events); len(got) != 0 {
		t.Errorf("stale limit sent %v; want nothing", got)
	}

	c.Halt()
	clk.Advance(time.Second)
	if got := drain(events); len(got) != 0 {
		t.Errorf("timer after Halt sent %v; want nothing", got)
	}
	if err := c.Forward(time.Second); err != ErrConveyorHalted {
		t.Errorf("Forward after Halt = %v; want %v", err, ErrConveyorHalted)
	}
}

func TestConveyorActiveLow(t *testing.T) {
	fwd, rev, log := motor(t, true)
	c, err := NewConveyor(fwd, rev, &ConveyorOpts{ActiveLow: true, Clock: clock.NewFake(t0)}, make(chan hal.Event, 1))
	if err != nil {
		t.Fatalf("NewConveyor: %v", err)
	}
	c.Reverse(time.Second)
	want := []string{"fwd=High", "rev=High", "fwd=High", "rev=Low"}
	if !slices.Equal(*log, want) {
		t.Errorf("active-low reverse: pins %v; want %v", *log, want)
	}
}

// With the real timer the run really ends at its limit.
func TestConveyorRealTimer(t *testing.T) {
	fwd, rev, _ := motor(t, false)
	events := make(chan hal.Event, 1)
	c, err := NewConveyor(fwd, rev, nil, events)
	if err != nil {
		t.Fatalf("NewConveyor: %v", err)
	}
	defer c.Halt()
	c.Forward(time.Millisecond)
	if ev := recv(t, events); ev.Kind != hal.ConveyorHalted {
		t.Errorf("event %v; want %v", ev.Kind, hal.ConveyorHalted)
	}
	if fwd.Read() != gpio.Low {
		t.Errorf("forward enable after the limit = %v; want Low", fwd.Read())
	}
}

func TestMetalSensor(t *testing.T) {
	tests := []struct {
		activeLow bool
		level     gpio.Level
		want      bool
	}{
		{false, gpio.High, true},
		{false, gpio.Low, false},
		{true, gpio.Low, true},
		{true, gpio.High, false},
	}
	for _, tt := range tests {
		pin := newFakePin("GPIO22", tt.level)
		m, err := NewMetalSensor(pin, gpio.PullUp, tt.activeLow)
		if err != nil {
			t.Fatalf("NewMetalSensor: %v", err)
		}
		if got, err := m.Metal(); got != tt.want || err != nil {
			t.Errorf("Metal() (activeLow %t, pin %v) = %t, %v; want %t, nil", tt.activeLow, tt.level, got, err, tt.want)
		}
	}
}
