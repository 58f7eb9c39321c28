package periph

import (
	"fmt"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/gpio"
)

var _ hal.MetalSensor = (*MetalSensor)(nil)

// MetalSensor is an inductive proximity sensor on a digital input.
type MetalSensor struct {
	// Immutable.
	pin       gpio.PinIn
	activeLow bool
}

// NewMetalSensor configures pin as a plain input. activeLow is for NPN
// sensors, which pull the line low when they sense metal.
func NewMetalSensor(pin gpio.PinIn, pull gpio.Pull, activeLow bool) (*MetalSensor, error) {
	if err := pin.In(pull, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("periph: metal sensor %s: %w", pin, err)
	}
	return &MetalSensor{pin: pin, activeLow: activeLow}, nil
}

// String names the sensor by its pin.
func (m *MetalSensor) String() string { return fmt.Sprintf("MetalSensor{%s}", m.pin) }

// Halt does nothing: the sensor has nothing running.
func (m *MetalSensor) Halt() error { return nil }

// Metal reports whether metal is in front of the sensor now.
func (m *MetalSensor) Metal() (bool, error) {
	return (m.pin.Read() == gpio.High) != m.activeLow, nil
}
