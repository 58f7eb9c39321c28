package calib

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/physic"
)

// More errors of the guided flow.
var (
	ErrUnstable = errors.New("calib: reading unstable")
	ErrCapacity = errors.New("calib: reference load beyond the cell's capacity")
	ErrNoPoints = errors.New("calib: no reference load")
)

// Stable reports whether samples (raw counts over a window) agree within
// tol counts (largest minus smallest), and their median. A tare taken from
// a cell that is still swinging would put the swing into every weighing.
func Stable(samples []int32, tol int32) (median, spread int32, err error) {
	if len(samples) == 0 {
		return 0, 0, fmt.Errorf("%w: no samples", ErrUnstable)
	}
	lo, hi := samples[0], samples[0]
	for _, s := range samples {
		if Saturated(s) {
			return 0, 0, fmt.Errorf("%w: sample %d", ErrSaturated, s)
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	spread = hi - lo
	if spread > tol {
		return 0, spread, fmt.Errorf("%w: %d samples spread over %d counts, want at most %d", ErrUnstable, len(samples), spread, tol)
	}
	return Median(samples), spread, nil
}

// Point is one reference load and the cell's (median) reading under it.
type Point struct {
	Load physic.Mass
	Raw  int32
}

// Residual is how far the fitted calibration reads one reference off.
type Residual struct {
	Load  physic.Mass // the reference
	Read  physic.Mass // what the new calibration makes of its reading
	Error physic.Mass // Read - Load
	PPM   int64       // Error per million of Load
}

// Linearity is the fit's report: each reference's residual and the worst.
type Linearity struct {
	Points []Residual
	MaxPPM int64 // the largest |PPM|
}

// Fit makes a calibration from a tare and one or more reference points,
// each checked as FromPoints checks its one (saturation, MinSpan from the
// tare, MinLoad..MaxLoad) and against capacity (0: MaxLoad). With one point
// it is FromPoints; with more, the gain is the least-squares slope of
// counts over load through the tare, in integer arithmetic (loads in
// milligrams, sums in 128 bits). The report says how straight the cell is.
func Fit(tareRaw int32, points []Point, resolution, capacity physic.Mass) (Calibration, Linearity, error) {
	if len(points) == 0 {
		return Calibration{}, Linearity{}, ErrNoPoints
	}
	if capacity <= 0 || capacity > MaxLoad {
		capacity = MaxLoad
	}
	for _, p := range points {
		if p.Load > capacity {
			return Calibration{}, Linearity{}, fmt.Errorf("%w: %s over %s", ErrCapacity, p.Load, capacity)
		}
		if _, err := FromPoints(tareRaw, p.Raw, p.Load, resolution); err != nil {
			return Calibration{}, Linearity{}, err
		}
	}
	c, err := FromPoints(tareRaw, points[0].Raw, points[0].Load, resolution)
	if err != nil {
		return Calibration{}, Linearity{}, err
	}
	if len(points) > 1 {
		// slope = Σ(d·m) / Σ(m²), d in counts, m in mg; counts/kg = slope·10^6.
		// |d| < 2^25 and m <= 5·10^7 < 2^26: each term is under 2^52, so a
		// handful of them sum safely in 64 bits.
		var sdm, smm int64
		for _, p := range points {
			d := int64(p.Raw) - int64(tareRaw)
			m := int64(p.Load / physic.MilliGram)
			sdm += d * m
			smm += m * m
		}
		perKg, ok := mulDivRound(sdm, 1_000_000, smm)
		if !ok || perKg == 0 {
			return Calibration{}, Linearity{}, fmt.Errorf("%w: gain", ErrOverflow)
		}
		c.CountsPerKg = perKg
	}
	lin := Linearity{}
	for _, p := range points {
		read, err := c.Mass(p.Raw)
		if err != nil {
			return Calibration{}, Linearity{}, err
		}
		r := Residual{Load: p.Load, Read: read, Error: read - p.Load}
		r.PPM, _ = mulDivRound(int64(r.Error), 1_000_000, int64(p.Load))
		lin.Points = append(lin.Points, r)
		lin.MaxPPM = max(lin.MaxPPM, int64(abs(r.PPM)))
	}
	return c, lin, nil
}
