package testhal

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// After two quick changes the pin ends at the last level, whatever edge the
// driver's WaitForEdge takes (it sets the pin to that edge's level).
func TestSetPinKeepsTheLatestEdge(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17", Num: -1, L: gpio.Low, EdgesChan: make(chan gpio.Level, 1)}
	SetPin(pin, gpio.High) // its edge still pending when
	SetPin(pin, gpio.Low)  // the level changes again
	if !pin.WaitForEdge(time.Second) {
		t.Fatal("no edge pending")
	}
	if got := pin.Read(); got != gpio.Low {
		t.Errorf("after High then Low and one WaitForEdge the pin reads %v; want Low", got)
	}
}
