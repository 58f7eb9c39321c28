// Package testhal holds small helpers for tests of code that reports
// hal.Event values on a channel (the drivers of hal/periph, the rig of
// hal/sim): take the next event with a deadline that only keeps a broken
// driver from hanging the run, list what is left, and drive a periph
// gpiotest pin from outside as a sensor would.
package testhal

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/deposit-rvm/rvm/hal"
)

// SetPin drives p's level from outside, as a sensor would, and signals the
// edge where p has edge detection (EdgesChan). gpiotest's WaitForEdge sets
// the pin to the level it takes from the channel, so a pending edge of an
// older level is replaced by this one: kept, it would undo this level (a
// flicker's edge, still pending when the beam broke again, once left a
// barrier test waiting in vain).
func SetPin(p *gpiotest.Pin, l gpio.Level) {
	p.Lock()
	p.L = l
	p.Unlock()
	if p.EdgesChan == nil {
		return
	}
	for {
		select {
		case p.EdgesChan <- l:
			return
		default:
			select {
			case <-p.EdgesChan: // an older level's edge: the watcher gets this one instead
			default:
			}
		}
	}
}

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
