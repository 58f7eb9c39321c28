package hx711

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"periph.io/x/conn/v3/gpio"
)

var _ hal.LoadCell = (*Dev)(nil)

// Errors.
var (
	ErrTimeout = errors.New("hx711: timeout waiting for data ready")
	ErrHalted  = errors.New("hx711: halted")
	// ErrStuck is a data line that stayed low after the last clock pulse,
	// where the chip pulls it high: shorted to ground, or no chip at all on
	// a line with a pull-down.
	ErrStuck = errors.New("hx711: data line stuck low")
)

// maxClockHigh is how long PD_SCK may stay high before the chip powers down
// (datasheet: 60 us). A pulse that long also ends the conversion being read.
const maxClockHigh = 60 * time.Microsecond

// Gain selects the HX711's input channel and gain. It is set by the number
// of clock pulses after the 24 data bits and applies from the next
// conversion on.
type Gain uint8

// Gains.
const (
	Gain128 Gain = 128 // channel A, 25 pulses; the power-on setting
	Gain64  Gain = 64  // channel A, 27 pulses
	Gain32  Gain = 32  // channel B, 26 pulses
)

// pulses is the number of PD_SCK pulses per conversion that select g.
func (g Gain) pulses() (int, error) {
	switch g {
	case Gain128:
		return 25, nil
	case Gain32:
		return 26, nil
	case Gain64:
		return 27, nil
	}
	return 0, fmt.Errorf("hx711: invalid gain %d (want 128, 64 or 32)", g)
}

// Opts configures an HX711.
type Opts struct {
	Gain Gain
	// Timeout bounds one ReadRaw. At 10 samples/s a conversion takes
	// 100 ms, and the first one after power-up 400 ms.
	Timeout time.Duration
	// Poll is the longest single wait for the data-ready edge before the
	// level is read again (edges can be missed, and some pin drivers have
	// none), and so the longest Halt waits for a ReadRaw to give up.
	Poll time.Duration
	// ClockHalf is how long each half of a clock pulse lasts (busy-waited:
	// the datasheet wants at least 0.2 us, a Pi's GPIO can be faster).
	ClockHalf time.Duration
	// Clock times the reads: the deadline, the polling fallback and the
	// busy-waited clock pulses (clock.Real if nil). The bit timing is
	// physical, so only tests substitute another.
	Clock clock.Clock
}

// DefaultOpts suits an HX711 at 10 or 80 samples/s on a Raspberry Pi.
var DefaultOpts = Opts{
	Gain:      Gain128,
	Timeout:   time.Second,
	Poll:      50 * time.Millisecond,
	ClockHalf: time.Microsecond,
}

// Dev is one HX711 on two GPIO pins.
type Dev struct {
	// Immutable.
	clk    gpio.PinOut
	data   gpio.PinIn
	opts   Opts
	pulses int
	edges  bool // data has edge detection

	halts atomic.Uint64 // bumped by Halt: a ReadRaw waiting gives up

	mu sync.Mutex // one shift at a time; never held while waiting for an edge
	// Mutable, guarded by mu.
	primed bool // the conversion being made used our gain
	down   bool // Halt powered the chip down
}

// New configures the pins (clock low: the chip runs; data as input with
// falling-edge detection where the driver has it) and returns the device.
// The pins stay the caller's: Halt does not close them. opts nil means
// DefaultOpts; a zero duration in opts means its default.
func New(clk gpio.PinOut, data gpio.PinIn, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
		if o.Timeout <= 0 {
			o.Timeout = DefaultOpts.Timeout
		}
		if o.Poll <= 0 {
			o.Poll = DefaultOpts.Poll
		}
		if o.ClockHalf < 0 {
			return nil, fmt.Errorf("hx711: negative clock half period %v", o.ClockHalf)
		}
		if o.ClockHalf == 0 {
			o.ClockHalf = DefaultOpts.ClockHalf
		}
	}
	n, err := o.Gain.pulses()
	if err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	d := &Dev{clk: clk, data: data, opts: o, pulses: n, edges: true}
	if err := clk.Out(gpio.Low); err != nil {
		return nil, fmt.Errorf("hx711: clock pin %s: %w", clk, err)
	}
	if err := data.In(gpio.PullNoChange, gpio.FallingEdge); err != nil {
		// Without edge detection the wait polls the level.
		if err := data.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("hx711: data pin %s: %w", data, err)
		}
		d.edges = false
	}
	return d, nil
}

// String names the chip and its pins.
func (d *Dev) String() string {
	return fmt.Sprintf("HX711{%s, %s, gain %d}", d.clk, d.data, d.opts.Gain)
}

// Halt powers the chip down (clock held high) and makes a ReadRaw that is
// waiting for data give up with ErrHalted within Opts.Poll. A later ReadRaw
// powers it up again.
func (d *Dev) Halt() error {
	d.halts.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = true
	if err := d.clk.Out(gpio.High); err != nil {
		return fmt.Errorf("hx711: power down: %w", err)
	}
	return nil
}

// ReadRaw waits for a conversion and returns it as a signed count (24-bit
// two's complement, sign-extended). Saturated readings (0x7FFFFF,
// -0x800000) are returned as they are: package calib refuses them.
//
// The first conversion after New, after Halt or after a clock pulse that
// ran over 60 us is read and thrown away, because it may have been made
// with another gain or cut short by a power-down.
func (d *Dev) ReadRaw() (int32, error) {
	gen := d.halts.Load()
	deadline := d.opts.Clock.Now().Add(d.opts.Timeout)
	if err := d.powerUp(); err != nil {
		return 0, err
	}
	for {
		if err := d.waitReady(gen, deadline); err != nil {
			return 0, err
		}
		v, ok, err := d.shift(gen)
		if err != nil || ok {
			return v, err
		}
	}
}

func (d *Dev) powerUp() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.down {
		return nil
	}
	if err := d.clk.Out(gpio.Low); err != nil {
		return fmt.Errorf("hx711: power up: %w", err)
	}
	d.down, d.primed = false, false
	return nil
}

// waitReady waits, without holding mu, until DOUT is low.
func (d *Dev) waitReady(gen uint64, deadline time.Time) error {
	for {
		if d.halts.Load() != gen {
			return ErrHalted
		}
		if d.data.Read() == gpio.Low {
			return nil
		}
		left := deadline.Sub(d.opts.Clock.Now())
		if left <= 0 {
			return ErrTimeout
		}
		if d.edges {
			// Never -1: on gpioioctl that times out at once.
			d.data.WaitForEdge(min(left, d.opts.Poll))
		} else {
			// Halt is seen within the millisecond.
			clock.Sleep(context.Background(), d.opts.Clock, min(left, time.Millisecond))
		}
	}
}

// shift clocks one conversion out. ok is false if there was nothing to read
// after all (another reader took it) or the conversion was thrown away.
func (d *Dev) shift(gen uint64) (v int32, ok bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halts.Load() != gen || d.down {
		return 0, false, ErrHalted
	}
	if d.data.Read() != gpio.Low {
		return 0, false, nil
	}
	// The clock must not stay high over 60 us: keep this goroutine on its
	// thread so that the scheduler does not move it mid-pulse.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var raw uint32
	stretched := false
	for i := range d.pulses {
		start := d.opts.Clock.Now()
		if err := d.clk.Out(gpio.High); err != nil {
			d.clk.Out(gpio.Low)
			d.primed = false
			return 0, false, fmt.Errorf("hx711: clock: %w", err)
		}
		d.spin(d.opts.ClockHalf)
		if i < 24 {
			raw <<= 1
			if d.data.Read() == gpio.High {
				raw |= 1
			}
		}
		if err := d.clk.Out(gpio.Low); err != nil {
			d.primed = false
			return 0, false, fmt.Errorf("hx711: clock: %w", err)
		}
		if d.opts.Clock.Now().Sub(start) > maxClockHigh {
			stretched = true
		}
		d.spin(d.opts.ClockHalf)
	}
	if d.data.Read() != gpio.High {
		// The last pulse makes the chip pull DOUT high until the next
		// conversion, tens of milliseconds away.
		d.primed = false
		return 0, false, fmt.Errorf("%w (%s)", ErrStuck, d.data)
	}
	if stretched {
		// The chip may have powered down mid-read and come back at gain 128.
		d.primed = false
		return 0, false, nil
	}
	if !d.primed {
		d.primed = true
		return 0, false, nil
	}
	return int32(raw<<8) >> 8, true, nil
}

// spin busy-waits: a sleep would last tens of microseconds at best.
func (d *Dev) spin(t time.Duration) {
	if t <= 0 {
		return
	}
	for start := d.opts.Clock.Now(); d.opts.Clock.Now().Sub(start) < t; {
	}
}
