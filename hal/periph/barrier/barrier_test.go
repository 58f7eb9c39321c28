package barrier

import (
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testhal"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// newPin is a gpiotest pin at level l. edges false leaves EdgesChan nil, so
// In with edge detection fails, as on a driver that has none.
func newPin(name string, l gpio.Level, edges bool) *gpiotest.Pin {
	p := &gpiotest.Pin{N: name, Num: -1, L: l, Clock: clockwork.NewRealClock()}
	if edges {
		p.EdgesChan = make(chan gpio.Level, 1)
	}
	return p
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
			pin := newPin("GPIO17", tt.idle, true)
			clk := clock.NewFake(t0)
			events := make(chan hal.Event, 16)
			b, err := New(pin, &Opts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared, ActiveLow: tt.activeLow,
				Poll: 10 * time.Millisecond, Clock: clk, Wait: clock.NewStepper(t0)}, events)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer b.Halt()
			if b.Active() {
				t.Errorf("Active() with the beam intact = true; want false")
			}
			testhal.SetPin(pin, !tt.idle)
			if ev := testhal.Recv(t, events); ev.Kind != hal.EntryBlocked || !ev.At.Equal(t0) {
				t.Errorf("beam broken: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.EntryBlocked, t0)
			}
			if !b.Active() {
				t.Errorf("Active() with the beam broken = false; want true")
			}
			clk.Advance(time.Second)
			testhal.SetPin(pin, tt.idle)
			if ev := testhal.Recv(t, events); ev.Kind != hal.EntryCleared || !ev.At.Equal(t0.Add(time.Second)) {
				t.Errorf("beam restored: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.EntryCleared, t0.Add(time.Second))
			}
		})
	}
}

// waitHook is a Stepper that calls hook before each wait.
type waitHook struct {
	*clock.Stepper
	hook func()
}

func (w *waitHook) NewTimer(d time.Duration) clock.Timer {
	w.hook()
	return w.Stepper.NewTimer(d)
}

// A level that does not hold for the debounce time is not reported.
func TestBarrierDebounce(t *testing.T) {
	pin := newPin("GPIO17", gpio.High, true)
	events := make(chan hal.Event, 16)
	var mu sync.Mutex
	bounce := true
	bounced := make(chan bool, 1)
	wait := &waitHook{Stepper: clock.NewStepper(t0), hook: func() {
		mu.Lock()
		defer mu.Unlock()
		if bounce {
			bounce = false
			testhal.SetPin(pin, gpio.High) // the beam flickered back during the debounce
			bounced <- true
		}
	}}
	b, err := New(pin, &Opts{Active: hal.ExitBlocked, Inactive: hal.ExitCleared, ActiveLow: true, Poll: 10 * time.Millisecond, Wait: wait}, events)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	testhal.SetPin(pin, gpio.Low)
	<-bounced
	testhal.SetPin(pin, gpio.Low)
	testhal.Recv(t, events)
	testhal.SetPin(pin, gpio.High)
	testhal.Recv(t, events)
	b.Halt()
	// Everything the watcher sent is in the channel now.
	if got := testhal.Drain(events); len(got) != 0 {
		t.Errorf("events after one break and one clear: extra %v; want none (the flicker is no event)", got)
	}
}

func TestDoorPolling(t *testing.T) {
	pin := newPin("GPIO27", gpio.Low, false)
	events := make(chan hal.Event, 16)
	d, err := New(pin, &Opts{Active: hal.DoorOpened, Inactive: hal.DoorClosed, Debounce: time.Millisecond}, events)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer d.Halt()
	testhal.SetPin(pin, gpio.High)
	if ev := testhal.Recv(t, events); ev.Kind != hal.DoorOpened {
		t.Errorf("door switch high: event %v; want %v", ev.Kind, hal.DoorOpened)
	}
	testhal.SetPin(pin, gpio.Low)
	if ev := testhal.Recv(t, events); ev.Kind != hal.DoorClosed {
		t.Errorf("door switch low: event %v; want %v", ev.Kind, hal.DoorClosed)
	}
}

// Halt ends the watcher even while it is stuck sending to a channel nobody
// reads.
func TestHaltWhileSending(t *testing.T) {
	pin := newPin("GPIO17", gpio.Low, true)
	events := make(chan hal.Event) // nobody reads
	s, err := New(pin, &Opts{Active: hal.ChamberBlocked, Inactive: hal.ChamberCleared, Poll: 10 * time.Millisecond, Wait: clock.NewStepper(t0)}, events)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	testhal.SetPin(pin, gpio.High)
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

func TestNewErrors(t *testing.T) {
	ch := make(chan hal.Event)
	tests := []struct {
		opts *Opts
		out  chan hal.Event
	}{
		{nil, ch},
		{&Opts{Active: hal.EntryBlocked}, ch},
		{&Opts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared}, nil},
		{&Opts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared, Debounce: -1}, ch},
	}
	for _, tt := range tests {
		if s, err := New(newPin("P", gpio.Low, true), tt.opts, tt.out); err == nil {
			s.Halt()
			t.Errorf("New(%+v, %v) = nil error; want an error", tt.opts, tt.out)
		}
	}
}

func TestString(t *testing.T) {
	b, err := New(newPin("GPIO17", gpio.High, true), &Opts{Active: hal.EntryBlocked, Inactive: hal.EntryCleared}, make(chan hal.Event))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer b.Halt()
	if got, want := b.String(), "Barrier{GPIO17(-1), entry-blocked/entry-cleared}"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}
