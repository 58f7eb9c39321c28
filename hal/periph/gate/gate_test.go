package gate

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/deposit-rvm/rvm/internal/clock"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func level(p *gpiotest.Pin) gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

// TestPulseReturnsToRest: a pulse opens the gate and the dead-man timer
// puts it back at rest after its length, capped at MaxPulse; a new pulse
// replaces the running one; Halt puts it at rest at once and refuses more.
func TestPulseReturnsToRest(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		pulse     time.Duration
		restAfter time.Duration // when the output is back at rest
	}{
		{"short", false, 300 * time.Millisecond, 300 * time.Millisecond},
		{"capped at MaxPulse", false, time.Minute, 2 * time.Second},
		{"active low", true, 500 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			pin := &gpiotest.Pin{N: "GPIO13", Num: 13}
			open, rest := gpio.High, gpio.Low
			if tt.activeLow {
				open, rest = gpio.Low, gpio.High
			}
			g, err := New(pin, &Opts{ActiveLow: tt.activeLow, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if got := level(pin); got != rest {
				t.Fatalf("after New: %v; want at rest (%v)", got, rest)
			}
			if err := g.Pulse(tt.pulse); err != nil {
				t.Fatal(err)
			}
			if got := level(pin); got != open {
				t.Fatalf("Pulse(%v): %v; want open (%v)", tt.pulse, got, open)
			}
			clk.Advance(tt.restAfter - time.Millisecond)
			if got := level(pin); got != open {
				t.Errorf("just before %v: %v; want still open", tt.restAfter, got)
			}
			clk.Advance(time.Millisecond)
			if got := level(pin); got != rest {
				t.Errorf("after %v: %v; want back at rest by itself", tt.restAfter, got)
			}
		})
	}
}

func TestPulseReplacedAndHalt(t *testing.T) {
	clk := clock.NewFake(t0)
	pin := &gpiotest.Pin{N: "GPIO13", Num: 13}
	g, err := New(pin, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	g.Pulse(time.Second)
	clk.Advance(800 * time.Millisecond)
	g.Pulse(time.Second) // replaces the first: its timer must not close this one
	clk.Advance(300 * time.Millisecond)
	if got := level(pin); got != gpio.High {
		t.Errorf("1.1 s in, 0.3 s into the second pulse: %v; want open", got)
	}
	if err := g.Halt(); err != nil {
		t.Fatal(err)
	}
	if got := level(pin); got != gpio.Low {
		t.Errorf("after Halt: %v; want at rest", got)
	}
	if err := g.Pulse(time.Second); !errors.Is(err, ErrHalted) {
		t.Errorf("Pulse after Halt = %v; want ErrHalted", err)
	}
	if err := (&Dev{}).Pulse(0); !errors.Is(err, ErrPulse) {
		t.Errorf("Pulse(0) = %v; want ErrPulse", err)
	}
	if got := g.String(); got != "gate(GPIO13)" {
		t.Errorf("String() = %q", got)
	}
}
