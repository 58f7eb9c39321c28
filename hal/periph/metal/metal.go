package metal

import (
	"fmt"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/gpio"
)

var _ hal.MetalSensor = (*Dev)(nil)

// Opts configures a Dev.
type Opts struct {
	// ActiveLow is for NPN sensors, which pull the line low when they sense
	// metal.
	ActiveLow bool
	// Pull is the input's pull resistor (an NPN output needs a pull-up).
	Pull gpio.Pull
}

// DefaultOpts suit an NPN sensor on the Pi's internal pull-up.
var DefaultOpts = Opts{ActiveLow: true, Pull: gpio.PullUp}

// Dev is an inductive proximity sensor on a digital input.
type Dev struct {
	// Immutable.
	pin       gpio.PinIn
	activeLow bool
}

// New configures pin as a plain input. opts nil means DefaultOpts. The pin
// stays the caller's.
func New(pin gpio.PinIn, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := pin.In(o.Pull, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("metal: %s: %w", pin, err)
	}
	return &Dev{pin: pin, activeLow: o.ActiveLow}, nil
}

// String names the sensor by its pin.
func (m *Dev) String() string { return fmt.Sprintf("MetalSensor{%s}", m.pin) }

// Halt does nothing: the sensor has nothing running.
func (m *Dev) Halt() error { return nil }

// Metal reports whether metal is in front of the sensor now.
func (m *Dev) Metal() (bool, error) {
	return (m.pin.Read() == gpio.High) != m.activeLow, nil
}
