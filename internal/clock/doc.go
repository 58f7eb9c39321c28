// Package clock passes time in, so that everything time-dependent (idle
// timeouts, dead-man limits, backoff, validity periods) is tested without
// sleeping.
//
// [Real] is the wall clock. [Fake] is a manual clock for tests and for the
// simulated machine, where time moves only when the owner calls
// [Fake.Advance] or [Fake.Set].
package clock
