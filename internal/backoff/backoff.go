package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy bounds a doubling, jittered wait. Immutable.
type Policy struct {
	// Min is the ceiling of the first wait; Max caps every later one.
	// Max below Min is read as Min.
	Min, Max time.Duration
}

// Wait returns the jittered wait after the n-th consecutive failure
// (n counts from 1; n < 1 is read as 1).
func (p Policy) Wait(n int) time.Duration {
	return p.WaitR(n, rand.Float64())
}

// WaitR is Wait with the random draw r in [0, 1) given, for tests and for
// callers that bring their own source.
func (p Policy) WaitR(n int, r float64) time.Duration {
	return Jitter(p.Ceiling(n), r)
}

// Ceiling returns d = Min·2^(n-1) capped at Max, the longest wait after the
// n-th failure.
func (p Policy) Ceiling(n int) time.Duration {
	d := p.Min
	limit := max(p.Max, p.Min)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Jitter returns a wait in [d/2, d]: half of d fixed, the other half scaled
// by r in [0, 1).
func Jitter(d time.Duration, r float64) time.Duration {
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}
