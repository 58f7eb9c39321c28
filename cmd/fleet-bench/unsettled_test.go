package main

import (
	"context"
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// token is a publish's outcome: decided (with err) or not yet.
type token struct {
	done chan struct{}
	err  error
}

func newToken(decided bool, err error) *token {
	t := &token{done: make(chan struct{}), err: err}
	if decided {
		close(t.done)
	}
	return t
}

func (t *token) Wait() bool { <-t.done; return true }
func (t *token) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *token) Done() <-chan struct{} { return t.done }
func (t *token) Error() error          { return t.err }

// client answers each Publish with the next of its outcomes and counts
// the publishes per payload.
type client struct {
	mqtt.Client
	outcomes []*token
	sent     map[string]int
}

func (c *client) Publish(_ string, _ byte, _ bool, payload any) mqtt.Token {
	c.sent[string(payload.([]byte))]++
	t := c.outcomes[0]
	if len(c.outcomes) > 1 {
		c.outcomes = c.outcomes[1:]
	}
	return t
}

// A record whose publish failed is published again until the broker has
// it; one acknowledged is forgotten; one undecided is kept, unless waited
// for.
func TestUnsettledPublishesFailuresAgain(t *testing.T) {
	broken := errors.New("publish was broken by timeout")
	for _, tc := range []struct {
		name      string
		outcomes  []*token
		wait      bool
		sends     int // of the record, the first included
		republish int64
		held      int // records still held after settle
	}{
		{"acknowledged", []*token{newToken(true, nil)}, false, 1, 0, 0},
		{"failed, then acknowledged", []*token{newToken(true, broken), newToken(true, nil)}, false, 2, 1, 0},
		{"failed twice, then acknowledged", []*token{newToken(true, broken), newToken(true, broken), newToken(true, nil)}, true, 3, 2, 0},
		{"failed, then undecided", []*token{newToken(true, broken), newToken(false, nil)}, false, 2, 1, 1},
		{"undecided", []*token{newToken(false, nil)}, false, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{outcomes: tc.outcomes, sent: map[string]int{}}
			p := &peak{}
			u := unsettled{p: p}
			m := &peakMachine{serial: "BENCH-1", client: c}
			u.emit(m, "transaction", []byte("r1"))
			u.settle(context.Background(), tc.wait)
			if c.sent["r1"] != tc.sends || p.republished.Load() != tc.republish || len(u.recs) != tc.held {
				t.Errorf("sent %d times, republished %d, held %d; want %d, %d, %d",
					c.sent["r1"], p.republished.Load(), len(u.recs), tc.sends, tc.republish, tc.held)
			}
			if p.published.Load() != 1 {
				t.Errorf("published = %d; want 1 (a record counts once)", p.published.Load())
			}
		})
	}
}
