package curtain

import (
	"fmt"
	"testing"

	"github.com/deposit-rvm/rvm/hal"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

func pins(prefix string, n int) ([]gpio.PinIn, []*gpiotest.Pin) {
	var in []gpio.PinIn
	var raw []*gpiotest.Pin
	for i := range n {
		p := &gpiotest.Pin{N: fmt.Sprintf("%s%d", prefix, i), Num: i}
		in, raw = append(in, p), append(raw, p)
	}
	return in, raw
}

func TestMeasure(t *testing.T) {
	const mm = physic.MilliMetre
	tests := []struct {
		high, wide string // beams broken, bottom first / left first
		want       hal.Shape
	}{
		{"0000000000", "000000", hal.Shape{}},
		{"1110000000", "011100", hal.Shape{Height: 50 * mm, Diameter: 60 * mm}},
		{"1111111111", "111111", hal.Shape{Height: 190 * mm, Diameter: 120 * mm}},
		{"1101000000", "100000", hal.Shape{Height: 70 * mm, Diameter: 20 * mm}}, // a label's gap
	}
	for _, tt := range tests {
		h, hp := pins("H", len(tt.high))
		w, wp := pins("W", len(tt.wide))
		d, err := New(h, w, &Opts{Pitch: 20 * mm, Base: -10 * mm, ActiveLow: true, Pull: gpio.PullUp})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		for i, c := range tt.high {
			hp[i].Out(gpio.Level(c == '0'))
		}
		for i, c := range tt.wide {
			wp[i].Out(gpio.Level(c == '0'))
		}
		if got, err := d.Measure(); got != tt.want || err != nil {
			t.Errorf("Measure() with %s/%s broken = %+v, %v; want %+v, nil", tt.high, tt.wide, got, err, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	h, _ := pins("H", 2)
	tests := []struct {
		high, wide []gpio.PinIn
		opts       *Opts
	}{
		{nil, h, nil},
		{h, nil, nil},
		{h, h, &Opts{Pitch: 0}},
	}
	for _, tt := range tests {
		if _, err := New(tt.high, tt.wide, tt.opts); err == nil {
			t.Errorf("New(%d, %d beams, %+v) = nil error; want an error", len(tt.high), len(tt.wide), tt.opts)
		}
	}
}
