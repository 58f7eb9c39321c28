// Package clock is the one seam through which the project sees time, so
// that everything time-dependent (idle timeouts, deadlines, dead-man limits,
// backoff, heartbeats, validity periods) is tested without sleeping.
//
// A [Clock] tells the time and waits: Now, NewTimer, NewTicker, AfterFunc
// and Since, as Tailscale's tstime.Clock. [Real] is the wall clock. [Fake]
// is a manual clock for tests and for the simulated machine: time moves only
// when its owner calls [Fake.Advance] or [Fake.Set], and the timers,
// tickers and AfterFunc callbacks that fall due on the way fire then, in
// time order. [Sleep] waits on any clock and honours a context.
//
// # Usage
//
//	func poll(ctx context.Context, clk clock.Clock) {
//		t := clk.NewTicker(time.Second)
//		defer t.Stop()
//		for {
//			select {
//			case <-ctx.Done():
//				return
//			case <-t.C():
//			}
//		}
//	}
//
// # Concurrency
//
// Both clocks are safe for concurrent use. A Fake runs AfterFunc callbacks
// on the goroutine that moved it, after releasing its lock, so a callback
// may use the clock.
package clock
