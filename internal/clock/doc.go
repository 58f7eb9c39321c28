// Package clock is the one seam through which the project sees time, so
// that everything time-dependent (idle timeouts, deadlines, dead-man limits,
// backoff, heartbeats, validity periods) is tested without sleeping.
//
// A [Clock] tells the time and waits: Now, NewTimer, NewTicker, AfterFunc
// and Since, as Tailscale's tstime.Clock. [Real] is the wall clock. [Fake]
// is a manual clock for tests and for the simulated machine: time moves only
// when its owner calls [Fake.Advance] or [Fake.Set], and the timers,
// tickers and AfterFunc callbacks that fall due on the way fire then, in
// time order. [Stepper] is a Fake on which every wait takes no time (and is
// recorded). [Settable] is for code that polls in real time but keeps
// business time on the clock: its Now moves only when its owner moves it, its
// timers and tickers are the real ones. [Sleep] waits on any clock and honours
// a context.
//
// Every package that waits does so through a Clock: the controller's loop,
// the daemon, telemetry, the DRS client, the gateway and its store, and the
// drivers (the barriers' debounce, the HX711's deadline and polling, the
// conveyor's dead-man limit, the board's self-test). A driver whose timing is
// physical (the HX711's bit clock, a line's bounce) takes [Real] by default,
// whatever clock stamps its events.
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
// All the clocks are safe for concurrent use. A Fake runs AfterFunc callbacks
// on the goroutine that moved it, after releasing its lock, so a callback
// may use the clock.
package clock
