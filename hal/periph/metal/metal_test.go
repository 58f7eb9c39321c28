package metal

import (
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestMetal(t *testing.T) {
	tests := []struct {
		activeLow bool
		level     gpio.Level
		want      bool
	}{
		{false, gpio.High, true},
		{false, gpio.Low, false},
		{true, gpio.Low, true},
		{true, gpio.High, false},
	}
	for _, tt := range tests {
		pin := &gpiotest.Pin{N: "GPIO22", Num: 22}
		m, err := New(pin, &Opts{ActiveLow: tt.activeLow, Pull: gpio.PullNoChange})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		pin.Out(tt.level) // the sensor drives the line
		if got, err := m.Metal(); got != tt.want || err != nil {
			t.Errorf("Metal() (activeLow %t, pin %v) = %t, %v; want %t, nil", tt.activeLow, tt.level, got, err, tt.want)
		}
	}
}

// The default pull-up reads as "no metal" with nothing connected to an NPN
// input.
func TestDefaultOpts(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO22", Num: 22}
	m, err := New(pin, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, _ := m.Metal(); got {
		t.Errorf("Metal() on an idle pulled-up NPN input = true; want false")
	}
	if got, want := m.String(), "MetalSensor{GPIO22(22)}"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}
