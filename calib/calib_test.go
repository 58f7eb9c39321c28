package calib

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func TestMass(t *testing.T) {
	chamber := Calibration{Offset: 8192, CountsPerKg: 420_000, Resolution: 100 * physic.MilliGram}
	down := Calibration{Offset: 1000, CountsPerKg: -420_000, Resolution: 100 * physic.MilliGram}
	exact := Calibration{Offset: 0, CountsPerKg: 3}
	tests := []struct {
		name string
		c    Calibration
		raw  int32
		want physic.Mass
		err  error
	}{
		{"zero load", chamber, 8192, 0, nil},
		{"25 g", chamber, 8192 + 25*420, 25 * physic.Gram, nil},
		{"below tare", chamber, 8192 - 420, -physic.Gram, nil},
		{"noise rounds away", chamber, 8192 + 4, 0, nil},
		{"half resolution rounds up", chamber, 8192 + 21, 100 * physic.MilliGram, nil}, // 0.05 g exactly
		{"half resolution rounds away from zero (negative)", chamber, 8192 - 21, -100 * physic.MilliGram, nil},
		{"just under half", chamber, 8192 + 20, 0, nil},
		{"negative gain", down, 1000 - 420*30, 30 * physic.Gram, nil},
		{"negative gain, negative load", down, 1000 + 420, -physic.Gram, nil},
		// 1 count at 3 counts/kg is 333333333.33 ng; 2 counts 666666666.67 ng.
		{"ng rounding down", exact, 1, 333_333_333_333 * physic.NanoGram, nil},
		{"ng rounding up", exact, 2, 666_666_666_667 * physic.NanoGram, nil},
		{"ng rounding negative", exact, -2, -666_666_666_667 * physic.NanoGram, nil},
		{"saturated high", chamber, RailHigh, 0, ErrSaturated},
		{"saturated low", chamber, RailLow, 0, ErrSaturated},
		{"beyond rail", chamber, math.MaxInt32, 0, ErrSaturated},
		{"one under the rail", chamber, RailHigh - 1, roundTo(physic.Mass((int64(RailHigh)-1-8192)*int64(physic.KiloGram)/420_000), 100*physic.MilliGram), nil},
		{"uncalibrated", Calibration{Offset: 5}, 5, 0, ErrUncalibrated},
		{"overflow", Calibration{Offset: RailLow + 1, CountsPerKg: 1}, RailHigh - 1, 0, ErrOverflow},
	}
	for _, tt := range tests {
		got, err := tt.c.Mass(tt.raw)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("%s: %v.Mass(%d) = %v, %v; want %v, %v", tt.name, tt.c, tt.raw, got, err, tt.want, tt.err)
		}
	}
}

func TestRaw(t *testing.T) {
	chamber := Calibration{Offset: 8192, CountsPerKg: 420_000}
	down := Calibration{Offset: 1000, CountsPerKg: -420_000}
	tests := []struct {
		c    Calibration
		m    physic.Mass
		want int32
	}{
		{chamber, 0, 8192},
		{chamber, physic.Gram, 8192 + 420},
		{chamber, 1190 * physic.MilliGram, 8192 + 500}, // 499.8 counts
		{chamber, 1189 * physic.MilliGram, 8192 + 499}, // 499.38 counts
		{down, physic.Gram, 1000 - 420},
		{chamber, 100 * physic.KiloGram, RailHigh},
		{chamber, -100 * physic.KiloGram, RailLow},
		{down, 100 * physic.KiloGram, RailLow},
		{chamber, physic.Mass(math.MaxInt64), RailHigh},
		{Calibration{Offset: 7}, physic.Gram, 7},
	}
	for _, tt := range tests {
		if got := tt.c.Raw(tt.m); got != tt.want {
			t.Errorf("%v.Raw(%v) = %d; want %d", tt.c, tt.m, got, tt.want)
		}
	}
}

// A mass turned into counts and back lands within half a resolution step
// (plus one count's worth of quantisation) of where it started.
func TestRoundTrip(t *testing.T) {
	cals := []Calibration{
		{Offset: 8192, CountsPerKg: 420_000, Resolution: 100 * physic.MilliGram},
		{Offset: -3000, CountsPerKg: 21_000, Resolution: physic.Gram},
		{Offset: 123, CountsPerKg: -733_331, Resolution: 10 * physic.MilliGram},
		{Offset: 0, CountsPerKg: 100_000},
	}
	for _, c := range cals {
		count := physic.Mass(int64(physic.KiloGram) / abs64(c.CountsPerKg))
		for m := -2 * physic.KiloGram; m <= 15*physic.KiloGram; m += 7919 * physic.MilliGram / 10 {
			raw := c.Raw(m)
			if Saturated(raw) {
				continue // beyond what this cell can show
			}
			got, err := c.Mass(raw)
			if err != nil {
				t.Fatalf("%v.Mass(Raw(%v)): %v", c, m, err)
			}
			tol := c.Resolution/2 + count
			if d := got - m; d > tol || d < -tol {
				t.Errorf("%v.Mass(Raw(%v)) = %v; want within %v", c, m, got, tol)
			}
		}
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestFromPoints(t *testing.T) {
	tests := []struct {
		name            string
		tare, load      int32
		ref, resolution physic.Mass
		want            Calibration
		err             error
	}{
		{"chamber 500 g", 8192, 8192 + 210_000, 500 * physic.Gram, 100 * physic.MilliGram,
			Calibration{Offset: 8192, CountsPerKg: 420_000, Resolution: 100 * physic.MilliGram}, nil},
		{"counts down", 1000, 1000 - 21_000, physic.KiloGram, physic.Gram,
			Calibration{Offset: 1000, CountsPerKg: -21_000, Resolution: physic.Gram}, nil},
		{"rounded gain", 0, 1001, 3 * physic.Gram, 0, // 333666.67 counts/kg
			Calibration{CountsPerKg: 333_667}, nil},
		{"exactly MinSpan", 0, MinSpan, physic.Gram, 0, Calibration{CountsPerKg: 1_000_000}, nil},
		{"too close", 100, 100 + MinSpan - 1, 500 * physic.Gram, 0, Calibration{}, ErrTooClose},
		{"too close, negative", 100, 100 - MinSpan + 1, 500 * physic.Gram, 0, Calibration{}, ErrTooClose},
		{"tare saturated", RailHigh, 0, 500 * physic.Gram, 0, Calibration{}, ErrSaturated},
		{"load saturated", 0, RailLow, 500 * physic.Gram, 0, Calibration{}, ErrSaturated},
		{"load too light", 0, 100_000, physic.Gram - 1, 0, Calibration{}, ErrLoadRange},
		{"load too heavy", 0, 100_000, MaxLoad + 1, 0, Calibration{}, ErrLoadRange},
		{"max load", 0, 5_000_000, MaxLoad, 0, Calibration{CountsPerKg: 100_000}, nil},
	}
	for _, tt := range tests {
		got, err := FromPoints(tt.tare, tt.load, tt.ref, tt.resolution)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("%s: FromPoints(%d, %d, %v, %v) = %v, %v; want %v, %v",
				tt.name, tt.tare, tt.load, tt.ref, tt.resolution, got, err, tt.want, tt.err)
		}
	}
	if _, err := FromPoints(0, 5000, physic.Gram, -1); err == nil {
		t.Errorf("FromPoints with negative resolution = nil error; want an error")
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []int32
		want int32
	}{
		{nil, 0},
		{[]int32{5}, 5},
		{[]int32{9, 1, 5}, 5},
		{[]int32{100, 1, 2, 3, -900}, 2},
		{[]int32{1, 4}, 2},    // 2.5 floors
		{[]int32{-1, -4}, -3}, // -2.5 floors
		{[]int32{RailHigh, RailHigh - 1}, RailHigh - 1},
		{[]int32{math.MinInt32, math.MinInt32}, math.MinInt32},
	}
	for _, tt := range tests {
		in := fmt.Sprint(tt.in)
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%s) = %d; want %d", in, got, tt.want)
		}
		if fmt.Sprint(tt.in) != in {
			t.Errorf("Median(%s) changed its input to %v", in, tt.in)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		c    Calibration
		want string
	}{
		{Calibration{Offset: 8192, CountsPerKg: 420000, Resolution: 100 * physic.MilliGram}, "offset 8192, 420000 counts/kg, resolution 100mg"},
		{Calibration{Offset: -3, CountsPerKg: -21000}, "offset -3, -21000 counts/kg, resolution none"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String(%#v) = %q; want %q", tt.c, got, tt.want)
		}
	}
}

func ExampleFromPoints() {
	// The technician reads the empty cell, then the cell under a 500 g weight.
	tare := Median([]int32{8190, 8195, 8192})
	load := Median([]int32{218_190, 218_192, 218_199})
	c, err := FromPoints(tare, load, 500*physic.Gram, 100*physic.MilliGram)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := c.Mass(8192 + 25*420 + 3)
	fmt.Println(c)
	fmt.Println(m)
	// Output:
	// offset 8192, 420000 counts/kg, resolution 100mg
	// 25g
}
