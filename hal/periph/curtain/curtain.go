package curtain

import (
	"errors"
	"fmt"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

var _ hal.ShapeSensor = (*Dev)(nil)

// Opts configures a Dev.
type Opts struct {
	// Pitch is the distance between two beams.
	Pitch physic.Distance
	// Base is the height of the lowest vertical beam above the chamber floor.
	Base physic.Distance
	// ActiveLow: a receiver output is low while its beam is broken.
	ActiveLow bool
	// Pull is every input's pull resistor.
	Pull gpio.Pull
}

// DefaultOpts suit a 10 mm pitch curtain with NPN outputs, its lowest beam
// on the floor.
var DefaultOpts = Opts{Pitch: 10 * physic.MilliMetre, ActiveLow: true, Pull: gpio.PullUp}

// Dev is two light curtains across the chamber: a vertical one (beams one
// above the other, bottom first) measures the height, a horizontal one
// (beams side by side across the belt) the diameter.
type Dev struct {
	// Immutable.
	height, width []gpio.PinIn
	opts          Opts
}

// New configures every beam's pin as a plain input. height lists the
// vertical curtain's receivers bottom first, width the horizontal one's.
// opts nil means DefaultOpts. The pins stay the caller's.
func New(height, width []gpio.PinIn, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if len(height) == 0 || len(width) == 0 {
		return nil, errors.New("curtain: needs at least one beam in each curtain")
	}
	if o.Pitch <= 0 {
		return nil, fmt.Errorf("curtain: pitch %v; want it positive", o.Pitch)
	}
	for _, p := range append(append([]gpio.PinIn(nil), height...), width...) {
		if err := p.In(o.Pull, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("curtain: %s: %w", p, err)
		}
	}
	return &Dev{height: height, width: width, opts: o}, nil
}

// String names the curtains by their beam counts and pitch.
func (d *Dev) String() string {
	return fmt.Sprintf("Curtain{%d high, %d wide, pitch %v}", len(d.height), len(d.width), d.opts.Pitch)
}

// Halt does nothing: the curtains have nothing running.
func (d *Dev) Halt() error { return nil }

// Measure reads every beam once. The height is the top of the highest
// broken vertical beam (Base plus its number times Pitch); the diameter is
// the number of broken horizontal beams times Pitch. An empty chamber
// measures zero.
func (d *Dev) Measure() (hal.Shape, error) {
	var s hal.Shape
	for i, p := range d.height {
		if d.broken(p) {
			s.Height = d.opts.Base + physic.Distance(i+1)*d.opts.Pitch
		}
	}
	for _, p := range d.width {
		if d.broken(p) {
			s.Diameter += d.opts.Pitch
		}
	}
	return s, nil
}

func (d *Dev) broken(p gpio.PinIn) bool { return (p.Read() == gpio.High) != d.opts.ActiveLow }
