package periph

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/gpio"
)

var _ hal.Conveyor = (*Conveyor)(nil)

// ErrLimit is returned for a conveyor run without a positive dead-man limit.
var ErrLimit = errors.New("periph: conveyor run without a positive dead-man limit")

// ErrConveyorHalted is returned for a command after Halt.
var ErrConveyorHalted = errors.New("periph: conveyor halted")

// ConveyorOpts configures a Conveyor.
type ConveyorOpts struct {
	ActiveLow bool        // the motor driver's enable inputs are active low (most relay boards)
	Clock     clock.Clock // runs the dead-man timer and stamps ConveyorHalted (clock.Real if nil)
}

// Conveyor drives the belt motor through two enable outputs, one per
// direction. Never both at once: a command switches the other direction off
// before it switches its own on. Every run is bounded by its dead-man limit:
// when the limit runs out the motor stops and ConveyorHalted is sent.
type Conveyor struct {
	// Immutable.
	fwd, rev gpio.PinOut
	on, off  gpio.Level
	clk      clock.Clock
	out      chan<- hal.Event
	done     chan struct{} // closed by Halt: a pending ConveyorHalted is dropped

	mu sync.Mutex
	// Mutable, guarded by mu.
	run    uint64 // counts commands; a timer of an older run does nothing
	timer  clock.Timer
	halted bool
}

// NewConveyor switches both outputs off and returns the conveyor.
// ConveyorHalted events go to out.
func NewConveyor(fwd, rev gpio.PinOut, opts *ConveyorOpts, out chan<- hal.Event) (*Conveyor, error) {
	if out == nil {
		return nil, errors.New("periph: conveyor needs an event channel")
	}
	var o ConveyorOpts
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	c := &Conveyor{fwd: fwd, rev: rev, on: gpio.High, off: gpio.Low, clk: o.Clock, out: out, done: make(chan struct{})}
	if o.ActiveLow {
		c.on, c.off = gpio.Low, gpio.High
	}
	if err := c.allOff(); err != nil {
		return nil, err
	}
	return c, nil
}

// String names the conveyor by its pins.
func (c *Conveyor) String() string { return fmt.Sprintf("Conveyor{fwd %s, rev %s}", c.fwd, c.rev) }

// Forward runs the belt forward for at most limit, replacing the running
// command.
func (c *Conveyor) Forward(limit time.Duration) error { return c.start(c.fwd, c.rev, limit) }

// Reverse runs the belt backward for at most limit, replacing the running
// command.
func (c *Conveyor) Reverse(limit time.Duration) error { return c.start(c.rev, c.fwd, limit) }

// Stop stops the belt. It is idempotent.
func (c *Conveyor) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	return c.allOff()
}

// Halt stops the belt for good: later commands fail with ErrConveyorHalted,
// and a ConveyorHalted nobody has taken yet is dropped.
func (c *Conveyor) Halt() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	if !c.halted {
		c.halted = true
		close(c.done)
	}
	return c.allOff()
}

func (c *Conveyor) start(this, other gpio.PinOut, limit time.Duration) error {
	if limit <= 0 {
		return fmt.Errorf("%w: %v", ErrLimit, limit)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.halted {
		return ErrConveyorHalted
	}
	c.cancel()
	if err := other.Out(c.off); err != nil {
		c.allOff()
		return fmt.Errorf("periph: conveyor %s: %w", other, err)
	}
	if err := this.Out(c.on); err != nil {
		c.allOff()
		return fmt.Errorf("periph: conveyor %s: %w", this, err)
	}
	run := c.run
	c.timer = c.clk.AfterFunc(limit, func() { c.expire(run) })
	return nil
}

// cancel forgets the running command's timer. mu must be held.
func (c *Conveyor) cancel() {
	c.run++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// expire is the dead-man limit of run running out.
func (c *Conveyor) expire(run uint64) {
	c.mu.Lock()
	if c.run != run || c.halted {
		c.mu.Unlock()
		return // replaced, stopped or halted in the meantime
	}
	c.cancel()
	err := c.allOff()
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

// allOff switches both directions off, trying both even if one fails.
func (c *Conveyor) allOff() error {
	err := errors.Join(c.fwd.Out(c.off), c.rev.Out(c.off))
	if err != nil {
		return fmt.Errorf("periph: conveyor off: %w", err)
	}
	return nil
}
