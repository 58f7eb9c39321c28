// Package testhal holds small helpers for tests of code that reports
// hal.Event values on a channel (the drivers of hal/periph, the rig of
// hal/sim): take the next event with a deadline that only keeps a broken
// driver from hanging the run, and list what is left.
package testhal

import (
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/hal"
)

// Recv returns the next event on ch. It fails the test after 10 s: that
// bounds a broken driver, it asserts nothing about timing.
func Recv(t testing.TB, ch <-chan hal.Event) hal.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event")
		return hal.Event{}
	}
}

// Drain returns the kinds of the events waiting on ch, without waiting.
func Drain(ch <-chan hal.Event) []hal.EventKind {
	var out []hal.EventKind
	for {
		select {
		case ev := <-ch:
			out = append(out, ev.Kind)
		default:
			return out
		}
	}
}
