package conveyor

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/gpio"
)

var _ hal.Conveyor = (*Dev)(nil)

// Errors.
var (
	// ErrLimit is a run without a positive dead-man limit.
	ErrLimit = errors.New("conveyor: run without a positive dead-man limit")
	// ErrHalted is a command after Halt.
	ErrHalted = errors.New("conveyor: halted")
)

// Timer is a pending call; time.Timer is one.
type Timer interface{ Stop() bool }

// AfterFunc calls f in its own goroutine after d, like time.AfterFunc.
type AfterFunc func(d time.Duration, f func()) Timer

// Opts configures a Dev.
type Opts struct {
	// EnableActiveLow: the motor driver's enable input is active low (most
	// relay boards).
	EnableActiveLow bool
	// ReverseHigh: the direction pin is high for reverse (the default is
	// high for forward).
	ReverseHigh bool
	// MaxLimit caps every run's dead-man limit: a command asking for more
	// runs for MaxLimit. Zero means DefaultOpts.MaxLimit.
	MaxLimit time.Duration
	// AfterFunc starts the dead-man timer; time.AfterFunc if nil.
	AfterFunc AfterFunc
	// Clock stamps ConveyorHalted (clock.Real if nil).
	Clock clock.Clock
}

// DefaultOpts: a belt that runs at most 10 s per command.
var DefaultOpts = Opts{MaxLimit: 10 * time.Second}

// Dev drives the belt motor through a motor driver's direction and enable
// inputs. The direction changes only while the motor is disabled: a command
// disables, sets the direction, then enables. Every run is bounded by its
// dead-man limit: when the limit runs out the motor stops and
// ConveyorHalted is sent.
type Dev struct {
	// Immutable.
	dir, en  gpio.PinOut
	on, off  gpio.Level // enable levels
	fwd, rev gpio.Level // direction levels
	max      time.Duration
	after    AfterFunc
	clk      clock.Clock
	out      chan<- hal.Event
	done     chan struct{} // closed by Halt: a pending ConveyorHalted is dropped

	mu sync.Mutex
	// Mutable, guarded by mu.
	run    uint64 // counts commands; a timer of an older run does nothing
	timer  Timer
	halted bool
}

// New disables the motor and returns the conveyor. ConveyorHalted events go
// to out. The pins stay the caller's.
func New(dir, en gpio.PinOut, opts *Opts, out chan<- hal.Event) (*Dev, error) {
	if out == nil {
		return nil, errors.New("conveyor: needs an event channel")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.MaxLimit < 0 {
		return nil, fmt.Errorf("conveyor: negative MaxLimit %v", o.MaxLimit)
	}
	if o.MaxLimit == 0 {
		o.MaxLimit = DefaultOpts.MaxLimit
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	c := &Dev{dir: dir, en: en, on: gpio.High, off: gpio.Low, fwd: gpio.High, rev: gpio.Low,
		max: o.MaxLimit, after: o.AfterFunc, clk: o.Clock, out: out, done: make(chan struct{})}
	if o.EnableActiveLow {
		c.on, c.off = gpio.Low, gpio.High
	}
	if o.ReverseHigh {
		c.fwd, c.rev = gpio.Low, gpio.High
	}
	if err := c.disable(); err != nil {
		return nil, err
	}
	return c, nil
}

// String names the conveyor by its pins.
func (c *Dev) String() string { return fmt.Sprintf("Conveyor{dir %s, enable %s}", c.dir, c.en) }

// Forward runs the belt forward for at most limit, replacing the running
// command.
func (c *Dev) Forward(limit time.Duration) error { return c.start(c.fwd, limit) }

// Reverse runs the belt backward for at most limit, replacing the running
// command.
func (c *Dev) Reverse(limit time.Duration) error { return c.start(c.rev, limit) }

// Running reports whether a run is pending (the motor is enabled).
func (c *Dev) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timer != nil
}

// Stop stops the belt. It is idempotent.
func (c *Dev) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	return c.disable()
}

// Halt stops the belt for good: later commands fail with ErrHalted, and a
// ConveyorHalted nobody has taken yet is dropped. It is idempotent.
func (c *Dev) Halt() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	if !c.halted {
		c.halted = true
		close(c.done)
	}
	return c.disable()
}

func (c *Dev) start(dir gpio.Level, limit time.Duration) error {
	if limit <= 0 {
		return fmt.Errorf("%w: %v", ErrLimit, limit)
	}
	limit = min(limit, c.max)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.halted {
		return ErrHalted
	}
	c.cancel()
	if err := c.disable(); err != nil {
		return err
	}
	if err := c.dir.Out(dir); err != nil {
		return fmt.Errorf("conveyor: direction %s: %w", c.dir, err)
	}
	if err := c.en.Out(c.on); err != nil {
		c.disable()
		return fmt.Errorf("conveyor: enable %s: %w", c.en, err)
	}
	run := c.run
	c.timer = c.after(limit, func() { c.expire(run) })
	return nil
}

// cancel forgets the running command's timer. mu must be held.
func (c *Dev) cancel() {
	c.run++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// expire is the dead-man limit of run running out.
func (c *Dev) expire(run uint64) {
	c.mu.Lock()
	if c.run != run || c.halted {
		c.mu.Unlock()
		return // replaced, stopped or halted in the meantime
	}
	c.cancel()
	err := c.disable()
	c.mu.Unlock()
	ev := hal.Event{Kind: hal.ConveyorHalted, At: c.clk.Now()}
	if err != nil {
		// The motor may still be running: that is a fault, not a halt.
		ev = hal.Event{Kind: hal.DeviceFault, Fault: hal.FaultJam, At: ev.At}
	}
	select {
	case c.out <- ev:
	case <-c.done:
	}
}

// disable switches the motor off.
func (c *Dev) disable() error {
	if err := c.en.Out(c.off); err != nil {
		return fmt.Errorf("conveyor: disable %s: %w", c.en, err)
	}
	return nil
}
