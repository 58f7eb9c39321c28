package telemetry

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before connection attempt n (1, 2, ...): an
// exponential ceiling min*2^(n-1), capped at max, of which a random part
// ("equal jitter": half fixed, half random) is taken, so a fleet that lost
// its broker at once does not come back in lockstep. r is in [0, 1).
func backoff(n int, minD, maxD time.Duration, r float64) time.Duration {
	ceil := minD
	for i := 1; i < n && ceil < maxD; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxD)
	return ceil/2 + time.Duration(r*float64(ceil/2))
}

func randFloat() float64 { return rand.Float64() }
