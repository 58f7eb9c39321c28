package calib

import (
	"errors"
	"fmt"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func TestStable(t *testing.T) {
	tests := []struct {
		in      []int32
		tol     int32
		med     int32
		spread  int32
		wantErr error
	}{
		{[]int32{100, 104, 98, 101}, 10, 100, 6, nil},
		{[]int32{100, 100}, 0, 100, 0, nil},
		{[]int32{100, 140, 98}, 10, 0, 42, ErrUnstable},
		{nil, 10, 0, 0, ErrUnstable},
		{[]int32{RailHigh, RailHigh}, 10, 0, 0, ErrSaturated},
	}
	for _, tt := range tests {
		med, spread, err := Stable(tt.in, tt.tol)
		if !errors.Is(err, tt.wantErr) || med != tt.med || spread != tt.spread {
			t.Errorf("Stable(%v, %d) = %d, %d, %v; want %d, %d, %v", tt.in, tt.tol, med, spread, err, tt.med, tt.spread, tt.wantErr)
		}
	}
}

func TestFit(t *testing.T) {
	kg := physic.KiloGram
	tests := []struct {
		name     string
		tare     int32
		points   []Point
		capacity physic.Mass
		want     int64 // counts per kg
		maxPPM   int64
		err      error
	}{
		{"one point is FromPoints", 0, []Point{{2 * kg, 42_000}}, 0, 21_000, 0, nil},
		{"two straight points", -3000, []Point{{2 * kg, -3000 + 42_000}, {5 * kg, -3000 + 105_000}}, 0, 21_000, 0, nil},
		// 2 kg reads 42000, 5 kg reads 105500 (bends up): the slope
		// Σdm/Σm² = (84e9 + 527.5e9)/(4e12 + 25e12) = 21086.2 counts/kg.
		{"bent cell", 0, []Point{{2 * kg, 42_000}, {5 * kg, 105_500}}, 0, 21_086, 4_098, nil},
		{"near tare", 0, []Point{{2 * kg, 42_000}, {physic.Gram, 900}}, 0, 0, 0, ErrTooClose},
		{"over capacity", 0, []Point{{6 * kg, 126_000}}, 5 * kg, 0, 0, ErrCapacity},
		{"saturated", 0, []Point{{2 * kg, RailHigh}}, 0, 0, 0, ErrSaturated},
		{"none", 0, nil, 0, 0, 0, ErrNoPoints},
	}
	for _, tt := range tests {
		c, lin, err := Fit(tt.tare, tt.points, physic.Gram, tt.capacity)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: Fit(%d, %v) error = %v; want %v", tt.name, tt.tare, tt.points, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if c.CountsPerKg != tt.want || c.Offset != tt.tare {
			t.Errorf("%s: Fit(%d, %v) = %v; want offset %d, %d counts/kg", tt.name, tt.tare, tt.points, c, tt.tare, tt.want)
		}
		if d := lin.MaxPPM - tt.maxPPM; d > 300 || d < -300 {
			t.Errorf("%s: Fit(%d, %v) linearity = %d ppm; want about %d", tt.name, tt.tare, tt.points, lin.MaxPPM, tt.maxPPM)
		}
		if len(lin.Points) != len(tt.points) {
			t.Errorf("%s: Fit reported %d residuals; want %d", tt.name, len(lin.Points), len(tt.points))
		}
	}
}

func ExampleFit() {
	// A tare and two references on a bag cell of about 21 counts a gram.
	tare := int32(-4357)
	c, lin, err := Fit(tare, []Point{
		{Load: 2 * physic.KiloGram, Raw: 39_325},
		{Load: 5 * physic.KiloGram, Raw: 104_844},
	}, physic.Gram, 50*physic.KiloGram)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c)
	fmt.Println("worst", lin.MaxPPM, "ppm")
	// Output:
	// offset -4357, 21840 counts/kg, resolution 1g
	// worst 0 ppm
}
