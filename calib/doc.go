// Package calib turns a load cell's raw ADC counts into [physic.Mass].
//
// A [Calibration] is two numbers a technician measured (the counts at zero
// load and the counts per kilogram) plus the resolution readings are rounded
// to. All arithmetic is integer: counts times 10^12 does not fit in 64 bits,
// so products are taken in 128 bits (math/bits), and results are rounded half
// away from zero. No float ever touches a weight, so the same counts give the
// same grams on every architecture.
//
// # Usage
//
//	tare := calib.Median(samplesEmpty)    // 3..7 raw readings, no load
//	load := calib.Median(samplesWith500g) // the reference weight on the cell
//	c, err := calib.FromPoints(tare, load, 500*physic.Gram, 100*physic.MilliGram)
//	if err != nil { ... }                 // ErrSaturated, ErrTooClose, ErrLoadRange
//	m, err := c.Mass(calib.Median(samples))
//
// Readings at the ADC rails (HX711: 0x7FFFFF and -0x800000) are refused with
// [ErrSaturated]: a saturated cell says only "at least this much", and a
// controller that trusted it would credit an overloaded or broken scale.
// A reading is always the [Median] of a few samples, so one spike from a
// vibrating belt cannot decide a container.
//
// # Calibrating
//
// The technician console (internal/service) calibrates the way Klipper's
// load-cell calibration does: [Stable] takes the tare from samples that
// agree within a tolerance and refuses a moving reading ([ErrUnstable]);
// [Fit] takes one or more reference points, refuses each one saturated,
// near the tare, out of range or beyond the cell's capacity
// ([ErrCapacity]), and with more than one fits the gain by least squares
// through the tare, in integer arithmetic, with a [Linearity] report of
// each reference's residual in parts per million. Nothing here changes a
// calibration in use: the caller swaps it in after every check passed.
//
// # Concurrency
//
// A Calibration is a value; it is safe to share and copy.
package calib
