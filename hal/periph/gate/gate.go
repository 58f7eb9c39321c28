package gate

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
)

var _ hal.Gate = (*Dev)(nil)

// Errors.
var (
	// ErrPulse is a pulse without a positive length.
	ErrPulse = errors.New("gate: pulse without a positive length")
	// ErrHalted is a command after Halt.
	ErrHalted = errors.New("gate: halted")
)

// Opts configures a Dev.
type Opts struct {
	// ActiveLow: the output is low while the gate is open (most relay
	// boards).
	ActiveLow bool
	// MaxPulse caps every pulse; zero means DefaultOpts.MaxPulse.
	MaxPulse time.Duration
	// Clock runs the return to rest (clock.Real if nil).
	Clock clock.Clock
}

// DefaultOpts: a gate held open at most 2 s per command.
var DefaultOpts = Opts{MaxPulse: 2 * time.Second}

// Dev is a gate on one output pin.
type Dev struct {
	// Immutable.
	pin       gpio.PinOut
	open, off gpio.Level
	max       time.Duration
	clk       clock.Clock

	mu sync.Mutex
	// Mutable, guarded by mu.
	run    uint64 // counts pulses; an older pulse's timer does nothing
	timer  clock.Timer
	halted bool
}

// New puts the gate at rest and returns it. opts may be nil.
func New(pin gpio.PinOut, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.MaxPulse <= 0 {
		o.MaxPulse = DefaultOpts.MaxPulse
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	d := &Dev{pin: pin, open: gpio.High, off: gpio.Low, max: o.MaxPulse, clk: o.Clock}
	if o.ActiveLow {
		d.open, d.off = gpio.Low, gpio.High
	}
	if err := pin.Out(d.off); err != nil {
		return nil, fmt.Errorf("gate: %s: %w", pin, err)
	}
	return d, nil
}

// Pulse opens the gate for dur (at most MaxPulse); it returns to rest by
// itself.
func (d *Dev) Pulse(dur time.Duration) error {
	if dur <= 0 {
		return ErrPulse
	}
	dur = min(dur, d.max)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return ErrHalted
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.run++
	run := d.run
	if err := d.pin.Out(d.open); err != nil {
		return fmt.Errorf("gate: %s: %w", d.pin, err)
	}
	d.timer = d.clk.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.run == run && !d.halted {
			_ = d.pin.Out(d.off)
		}
	})
	return nil
}

// String names the gate by its pin.
func (d *Dev) String() string { return "gate(" + d.pin.Name() + ")" }

// Halt puts the gate at rest at once; later pulses are refused.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halted = true
	if d.timer != nil {
		d.timer.Stop()
	}
	if err := d.pin.Out(d.off); err != nil {
		return fmt.Errorf("gate: %s: %w", d.pin, err)
	}
	return nil
}
