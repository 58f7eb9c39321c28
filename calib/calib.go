package calib

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"periph.io/x/conn/v3/physic"
)

// The HX711's rails: a 24-bit two's complement conversion pinned here means
// the input is out of range.
const (
	RailHigh int32 = 0x7FFFFF
	RailLow  int32 = -0x800000
)

// MinSpan is the least distance in counts between the tare and the reference
// load that FromPoints accepts: below it, noise is a visible share of the gain.
const MinSpan = 1000

// The reference load FromPoints accepts.
const (
	MinLoad = physic.Gram
	MaxLoad = 50 * physic.KiloGram
)

// nanogramsPerKg scales counts per kilogram to counts per nanogram.
const nanogramsPerKg = uint64(physic.KiloGram)

// Errors.
var (
	ErrUncalibrated = errors.New("calib: uncalibrated (zero counts per kg)")
	ErrSaturated    = errors.New("calib: reading saturated at the ADC rail")
	ErrTooClose     = errors.New("calib: load reading too close to the tare")
	ErrLoadRange    = errors.New("calib: reference load out of range")
	ErrOverflow     = errors.New("calib: result out of range")
)

// Calibration turns raw counts of one cell into mass.
type Calibration struct {
	Offset      int32       // raw counts at zero load (tare)
	CountsPerKg int64       // raw counts per kilogram; negative for cells that count down
	Resolution  physic.Mass // readings are rounded to this; 0 = no rounding
}

// Mass converts one (median-filtered) raw reading.
func (c Calibration) Mass(raw int32) (physic.Mass, error) {
	if c.CountsPerKg == 0 {
		return 0, ErrUncalibrated
	}
	if Saturated(raw) {
		return 0, fmt.Errorf("%w: %d", ErrSaturated, raw)
	}
	ng, ok := mulDivRound(int64(raw)-int64(c.Offset), int64(nanogramsPerKg), c.CountsPerKg)
	if !ok {
		return 0, fmt.Errorf("%w: %d counts with %d counts/kg", ErrOverflow, raw, c.CountsPerKg)
	}
	return roundTo(physic.Mass(ng), c.Resolution), nil
}

// Raw is the inverse of Mass: the counts this cell shows under m, rounded
// half away from zero and clamped to the HX711's rails (a real cell cannot
// show more, and Mass refuses the rails as saturated). With CountsPerKg 0 it
// returns Offset.
func (c Calibration) Raw(m physic.Mass) int32 {
	if c.CountsPerKg == 0 {
		return c.Offset
	}
	d, ok := mulDivRound(int64(m), c.CountsPerKg, int64(nanogramsPerKg))
	if !ok {
		if (m < 0) != (c.CountsPerKg < 0) {
			return RailLow
		}
		return RailHigh
	}
	return clamp(int64(c.Offset) + d)
}

// FromPoints makes a calibration from two readings: tareRaw with no load and
// loadRaw with a reference load on the cell. It refuses saturated readings, a
// load reading less than MinSpan counts from the tare, and a reference load
// outside MinLoad..MaxLoad, so a calibration it returns is one worth keeping.
func FromPoints(tareRaw, loadRaw int32, load physic.Mass, resolution physic.Mass) (Calibration, error) {
	if Saturated(tareRaw) {
		return Calibration{}, fmt.Errorf("%w: tare %d", ErrSaturated, tareRaw)
	}
	if Saturated(loadRaw) {
		return Calibration{}, fmt.Errorf("%w: load %d", ErrSaturated, loadRaw)
	}
	if load < MinLoad || load > MaxLoad {
		return Calibration{}, fmt.Errorf("%w: %s not in %s..%s", ErrLoadRange, load, MinLoad, MaxLoad)
	}
	if resolution < 0 {
		return Calibration{}, fmt.Errorf("calib: negative resolution %s", resolution)
	}
	span := int64(loadRaw) - int64(tareRaw)
	if span > -MinSpan && span < MinSpan {
		return Calibration{}, fmt.Errorf("%w: %d counts apart, want at least %d", ErrTooClose, span, MinSpan)
	}
	// span < 2^25 and load >= 1 g, so the quotient is far from overflowing.
	perKg, _ := mulDivRound(span, int64(nanogramsPerKg), int64(load))
	return Calibration{Offset: tareRaw, CountsPerKg: perKg, Resolution: resolution}, nil
}

// Saturated reports whether raw sits at (or beyond) the HX711's rails.
func Saturated(raw int32) bool { return raw >= RailHigh || raw <= RailLow }

// Median returns the median of raws, the mean of the middle two (rounded
// down) for an even count, and 0 for none. raws is not modified.
func Median(raws []int32) int32 {
	n := len(raws)
	if n == 0 {
		return 0
	}
	// Readings come a handful at a time: sort a copy on the stack, so the
	// hot path of every weighing allocates nothing.
	var buf [16]int32
	var s []int32
	if n <= len(buf) {
		s = buf[:n]
		copy(s, raws)
	} else {
		s = slices.Clone(raws)
	}
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	sum := int64(s[n/2-1]) + int64(s[n/2])
	if sum < 0 && sum%2 != 0 {
		sum-- // floor, not truncation toward zero
	}
	return int32(sum / 2)
}

// String reads like "offset 8192, 420000 counts/kg, resolution 100mg".
func (c Calibration) String() string {
	res := "none"
	if c.Resolution > 0 {
		res = c.Resolution.String()
	}
	return fmt.Sprintf("offset %d, %d counts/kg, resolution %s", c.Offset, c.CountsPerKg, res)
}

// mulDivRound returns a*b/c rounded half away from zero, computed in 128 bits.
// ok is false if c is 0 or the result does not fit in an int64.
func mulDivRound(a, b, c int64) (q int64, ok bool) {
	if c == 0 {
		return 0, false
	}
	neg := (a < 0) != (b < 0) != (c < 0)
	ua, ub, uc := abs(a), abs(b), abs(c)
	hi, lo := bits.Mul64(ua, ub)
	// Divide the 128-bit product in two steps so that Div64 never panics.
	qHi, r := hi/uc, hi%uc
	qLo, rem := bits.Div64(r, lo, uc)
	if qHi != 0 {
		return 0, false
	}
	if rem >= uc-rem { // 2*rem >= uc without overflowing
		qLo++
		if qLo == 0 {
			return 0, false
		}
	}
	if neg {
		if qLo > 1<<63 {
			return 0, false
		}
		return int64(-qLo), true // -2^63 wraps to itself, which is right
	}
	if qLo > math.MaxInt64 {
		return 0, false
	}
	return int64(qLo), true
}

func abs(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // MinInt64 wraps to 2^63, its true magnitude
	}
	return uint64(v)
}

// roundTo rounds m to a multiple of res, half away from zero.
func roundTo(m, res physic.Mass) physic.Mass {
	if res <= 0 {
		return m
	}
	q, r := m/res, m%res
	if r < 0 {
		r = -r
	}
	if r >= res-r {
		if m < 0 {
			q--
		} else {
			q++
		}
	}
	return q * res
}

func clamp(v int64) int32 {
	switch {
	case v > int64(RailHigh):
		return RailHigh
	case v < int64(RailLow):
		return RailLow
	}
	return int32(v)
}
