package conveyor

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testhal"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// motor is a driver's two inputs on gpiotest pins. It logs every write and
// fails the test when the direction changes while the motor is enabled.
type motor struct {
	t       *testing.T
	dir, en *gpiotest.Pin
	on      gpio.Level
	mu      sync.Mutex
	log     []string
	failEn  error
}

type loggedPin struct {
	*gpiotest.Pin
	m *motor
}

func (p loggedPin) Out(l gpio.Level) error {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.Pin == m.en && m.failEn != nil && l == m.on {
		return m.failEn
	}
	if p.Pin == m.dir && m.en.Read() == m.on && m.dir.Read() != l {
		m.t.Errorf("direction set to %v while enabled, after %v", l, m.log)
	}
	m.log = append(m.log, fmt.Sprintf("%s=%v", p.N, l))
	return p.Pin.Out(l)
}

func newMotor(t *testing.T, enableActiveLow bool) *motor {
	m := &motor{t: t, dir: &gpiotest.Pin{N: "dir", Num: 23}, en: &gpiotest.Pin{N: "en", Num: 24}, on: gpio.High}
	if enableActiveLow {
		m.on = gpio.Low
		m.en.L = gpio.High
	}
	return m
}

func (m *motor) pins() (dir, en gpio.PinOut) { return loggedPin{m.dir, m}, loggedPin{m.en, m} }

func (m *motor) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.log
	m.log = nil
	return l
}

// The dead-man limit: a run that is not renewed stops by itself, disables
// the motor and reports ConveyorHalted; a replaced, stopped or halted run's
// timer does nothing.
func TestDeadManLimit(t *testing.T) {
	m := newMotor(t, false)
	clk := clock.NewFake(t0)
	events := make(chan hal.Event, 4)
	dir, en := m.pins()
	c, err := New(dir, en, &Opts{Clock: clk}, events)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	check := func(what string, want ...string) {
		t.Helper()
		if got := m.take(); !slices.Equal(got, want) {
			t.Errorf("%s: pins %v; want %v", what, got, want)
		}
	}
	due := func(what string, want time.Time) {
		t.Helper()
		if at, ok := clk.Next(); !ok || !at.Equal(want) {
			t.Errorf("%s: dead-man timer due at %v, %v; want %v", what, at, ok, want)
		}
	}
	check("new", "en=Low")

	if err := c.Forward(0); !errors.Is(err, ErrLimit) {
		t.Errorf("Forward(0) = %v; want %v", err, ErrLimit)
	}
	c.Forward(2 * time.Second)
	check("forward", "en=Low", "dir=High", "en=High")
	due("Forward(2s)", t0.Add(2*time.Second))
	if !c.Running() {
		t.Errorf("Running() during a run = false; want true")
	}
	c.Reverse(3 * time.Second)
	check("reverse replaces forward", "en=Low", "dir=Low", "en=High")
	due("Reverse(3s) after Forward(2s)", t0.Add(3*time.Second))
	c.expire(0) // a stale timer that fired anyway does nothing
	check("stale timer")
	if got := testhal.Drain(events); len(got) != 0 {
		t.Errorf("stale timer sent %v; want nothing", got)
	}

	clk.Advance(3 * time.Second)
	check("dead-man limit", "en=Low")
	if ev := testhal.Recv(t, events); ev.Kind != hal.ConveyorHalted || !ev.At.Equal(t0.Add(3*time.Second)) {
		t.Errorf("at the limit: event %v at %v; want %v at %v", ev.Kind, ev.At, hal.ConveyorHalted, t0.Add(3*time.Second))
	}
	if c.Running() {
		t.Errorf("Running() after the limit = true; want false")
	}

	c.Forward(time.Minute)
	due("Forward(1m)", clk.Now().Add(DefaultOpts.MaxLimit))
	m.take()
	c.Stop()
	c.Stop()
	check("stop", "en=Low", "en=Low")
	if _, ok := clk.Next(); ok {
		t.Errorf("a dead-man timer is pending after Stop")
	}
	clk.Advance(DefaultOpts.MaxLimit)
	if got := testhal.Drain(events); len(got) != 0 {
		t.Errorf("timer after Stop sent %v; want nothing", got)
	}

	c.Forward(time.Second)
	c.Halt()
	clk.Advance(time.Second)
	if got := testhal.Drain(events); len(got) != 0 {
		t.Errorf("timer after Halt sent %v; want nothing", got)
	}
	if err := c.Forward(time.Second); !errors.Is(err, ErrHalted) {
		t.Errorf("Forward after Halt = %v; want %v", err, ErrHalted)
	}
	if m.en.Read() != gpio.Low {
		t.Errorf("enable after Halt = %v; want Low", m.en.Read())
	}
}

func TestActiveLowReverseHigh(t *testing.T) {
	m := newMotor(t, true)
	dir, en := m.pins()
	c, err := New(dir, en, &Opts{EnableActiveLow: true, ReverseHigh: true, Clock: clock.NewFake(t0)}, make(chan hal.Event, 1))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.Reverse(time.Second)
	want := []string{"en=High", "en=High", "dir=High", "en=Low"}
	if got := m.take(); !slices.Equal(got, want) {
		t.Errorf("active-low reverse: pins %v; want %v", got, want)
	}
}

// An enable that cannot be written leaves the motor disabled and says which
// pin failed.
func TestEnableFails(t *testing.T) {
	m := newMotor(t, false)
	m.failEn = errors.New("gpio: EIO")
	dir, en := m.pins()
	c, err := New(dir, en, &Opts{Clock: clock.NewFake(t0)}, make(chan hal.Event, 1))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = c.Forward(time.Second)
	if want := "conveyor: enable en(24): gpio: EIO"; err == nil || err.Error() != want {
		t.Errorf("Forward with a broken enable = %v; want %q", err, want)
	}
	if c.Running() || m.en.Read() != gpio.Low {
		t.Errorf("after a failed enable: running %t, enable %v; want false, Low", c.Running(), m.en.Read())
	}
}

// With the real timer the run really ends at its limit.
func TestDeadManLimitRealTimer(t *testing.T) {
	m := newMotor(t, false)
	events := make(chan hal.Event, 1)
	dir, en := m.pins()
	c, err := New(dir, en, nil, events)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Halt()
	c.Forward(time.Millisecond)
	if ev := testhal.Recv(t, events); ev.Kind != hal.ConveyorHalted {
		t.Errorf("event %v; want %v", ev.Kind, hal.ConveyorHalted)
	}
	if m.en.Read() != gpio.Low {
		t.Errorf("enable after the limit = %v; want Low", m.en.Read())
	}
}

func TestNewErrors(t *testing.T) {
	m := newMotor(t, false)
	dir, en := m.pins()
	if _, err := New(dir, en, nil, nil); err == nil {
		t.Errorf("New(no event channel) = nil error; want an error")
	}
	if _, err := New(dir, en, &Opts{MaxLimit: -1}, make(chan hal.Event)); err == nil {
		t.Errorf("New(MaxLimit -1) = nil error; want an error")
	}
}
