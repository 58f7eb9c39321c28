package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// HX711 is an HX711 load-cell ADC at the pin level, for the real driver
// (hal/periph/hx711) to talk to: it answers the driver's clock pulses on
// its clock pin with the bits of a conversion on its data pin, as the chip
// does (24 bits MSB first, DOUT high after the 25th pulse until the next
// conversion; clock held high powers it down).
//
// It keeps no simulated time, so that a run stays deterministic: a
// conversion is ready whenever the driver waits for one (WaitForEdge on
// the data pin), and it converts what sample returns at that moment. Only
// the power-down is timed, in real time as on the chip: a clock pulse high
// for over 60 us resets the conversion, as the driver expects (it throws
// such a conversion away and reads again).
type HX711 struct {
	// Immutable.
	name   string
	sample func() int32

	mu sync.Mutex
	// Mutable, guarded by mu.
	clk     gpio.Level
	highAt  time.Time // when clk last went high
	ready   bool      // DOUT low: a conversion waits to be shifted out
	bits    uint32    // the conversion being shifted out
	pulses  int       // clock pulses into the current conversion
	reads   int       // conversions shifted out completely
	gain    int       // pulses of the last complete read (25, 26, 27)
	missing bool      // no chip: DOUT stays high, no conversion ever comes
}

// NewHX711 is a chip whose conversions are sample(); name prefixes its
// pins' names. It starts with a conversion ready.
func NewHX711(name string, sample func() int32) *HX711 {
	return &HX711{name: name, sample: sample, ready: true}
}

// Clock is the chip's PD_SCK input, for the driver to drive.
func (c *HX711) Clock() gpio.PinIO { return hxClock{c} }

// Data is the chip's DOUT output, for the driver to read.
func (c *HX711) Data() gpio.PinIO { return hxData{c} }

// SetMissing takes the chip off the board (DOUT floats high, nothing
// answers) or puts it back.
func (c *HX711) SetMissing(missing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.missing = missing
}

// Reads returns how many conversions were shifted out, and the pulse count
// of the last one (25 for gain 128, 26 for 32, 27 for 64).
func (c *HX711) Reads() (n, pulses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads, c.gain
}

func (c *HX711) out(l gpio.Level) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l == c.clk {
		return
	}
	c.clk = l
	if l == gpio.Low {
		if time.Since(c.highAt) > powerDown {
			// Powered down and up again: a new conversion starts.
			c.pulses, c.ready = 0, false
			return
		}
		if c.pulses >= 25 {
			c.reads++
			c.gain = c.pulses
		}
		return
	}
	c.highAt = time.Now()
	if !c.ready || c.missing {
		return
	}
	if c.pulses == 0 {
		c.bits = uint32(c.sample()) & 0xFFFFFF
	}
	c.pulses++
}

func (c *HX711) dout() gpio.Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.missing || !c.ready:
		return gpio.High
	case c.pulses == 0:
		return gpio.Low // ready
	case c.pulses <= 24:
		return gpio.Level(c.bits>>(24-c.pulses)&1 == 1)
	}
	return gpio.High
}

// powerDown is how long a high clock takes to power the chip down.
const powerDown = 60 * time.Microsecond

// wait is the driver waiting for DOUT: the finished conversion is
// replaced by a fresh one. Without a chip, it waits timeout in real time.
func (c *HX711) wait(timeout time.Duration) bool {
	c.mu.Lock()
	if c.missing || c.clk == gpio.High {
		c.mu.Unlock()
		time.Sleep(min(timeout, time.Millisecond))
		return false
	}
	if c.pulses >= 25 || !c.ready {
		c.pulses, c.ready = 0, true
	}
	c.mu.Unlock()
	return true
}

type hxClock struct{ c *HX711 }

func (p hxClock) String() string   { return p.c.name + "-SCK" }
func (p hxClock) Halt() error      { return nil }
func (p hxClock) Name() string     { return p.c.name + "-SCK" }
func (p hxClock) Number() int      { return -1 }
func (p hxClock) Function() string { return "Out" }
func (p hxClock) In(gpio.Pull, gpio.Edge) error {
	return errors.New("sim: HX711 clock is an input of the chip")
}
func (p hxClock) Read() gpio.Level                      { p.c.mu.Lock(); defer p.c.mu.Unlock(); return p.c.clk }
func (p hxClock) WaitForEdge(time.Duration) bool        { return false }
func (p hxClock) Pull() gpio.Pull                       { return gpio.PullNoChange }
func (p hxClock) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (p hxClock) Out(l gpio.Level) error                { p.c.out(l); return nil }
func (p hxClock) PWM(gpio.Duty, physic.Frequency) error { return errors.New("sim: no PWM") }

type hxData struct{ c *HX711 }

func (p hxData) String() string                        { return p.c.name + "-DOUT" }
func (p hxData) Halt() error                           { return nil }
func (p hxData) Name() string                          { return p.c.name + "-DOUT" }
func (p hxData) Number() int                           { return -1 }
func (p hxData) Function() string                      { return "In" }
func (p hxData) In(gpio.Pull, gpio.Edge) error         { return nil }
func (p hxData) Read() gpio.Level                      { return p.c.dout() }
func (p hxData) WaitForEdge(t time.Duration) bool      { return p.c.wait(t) }
func (p hxData) Pull() gpio.Pull                       { return gpio.PullNoChange }
func (p hxData) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (p hxData) Out(gpio.Level) error                  { return fmt.Errorf("sim: %s is the chip's output", p) }
func (p hxData) PWM(gpio.Duty, physic.Frequency) error { return errors.New("sim: no PWM") }

var (
	_ gpio.PinIO = hxClock{}
	_ gpio.PinIO = hxData{}
)
