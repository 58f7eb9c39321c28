package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal/periph/hx711"
)

// The real driver reads the simulated chip: every conversion it keeps is
// what sample said, at the gain it asked for.
func TestHX711WithDriver(t *testing.T) {
	tests := []struct {
		gain   hx711.Gain
		pulses int
	}{{hx711.Gain128, 25}, {hx711.Gain64, 27}, {hx711.Gain32, 26}}
	for _, tt := range tests {
		next := int32(-5)
		chip := NewHX711("cell", func() int32 { next++; return next * 1000 })
		d, err := hx711.New(chip.Clock(), chip.Data(), &hx711.Opts{Gain: tt.gain})
		if err != nil {
			t.Fatalf("hx711.New: %v", err)
		}
		var got []int32
		for range 6 {
			v, err := d.ReadRaw()
			if err != nil {
				t.Fatalf("gain %d: ReadRaw() = %v", tt.gain, err)
			}
			got = append(got, v)
		}
		// Each kept value is a later conversion than the one before
		// (discarded ones, after a stretched pulse, only skip values).
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] || got[i]%1000 != 0 {
				t.Errorf("gain %d: ReadRaw() values %v; want increasing multiples of 1000", tt.gain, got)
				break
			}
		}
		if _, p := chip.Reads(); p != tt.pulses {
			t.Errorf("gain %d: %d pulses per conversion; want %d", tt.gain, p, tt.pulses)
		}
		if err := d.Halt(); err != nil {
			t.Fatalf("Halt: %v", err)
		}
		if v, err := d.ReadRaw(); err != nil || v <= got[len(got)-1] {
			t.Errorf("gain %d: ReadRaw() after Halt = %d, %v; want a later value, nil", tt.gain, v, err)
		}
	}
}

func TestHX711Missing(t *testing.T) {
	chip := NewHX711("cell", func() int32 { return 1 })
	chip.SetMissing(true)
	d, err := hx711.New(chip.Clock(), chip.Data(), &hx711.Opts{Gain: hx711.Gain128, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("hx711.New: %v", err)
	}
	if _, err := d.ReadRaw(); !errors.Is(err, hx711.ErrTimeout) {
		t.Errorf("ReadRaw() without a chip = %v; want %v", err, hx711.ErrTimeout)
	}
}
