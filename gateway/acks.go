package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/seqrange"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// DefaultAckEvery is how often, at most, a machine hears which of its
// events the gateway committed; DefaultAckWithin how long, at most, a
// committed event waits for that (Options.AckWithin).
const (
	DefaultAckEvery  = 5 * time.Second
	DefaultAckWithin = 15 * time.Second
)

const (
	// maxAckMachines and maxAckRanges bound the acks waiting for the next
	// flush. What does not fit is not acknowledged: the machine sends it
	// again and its duplicate is acknowledged then.
	maxAckMachines = 100_000
	maxAckRanges   = 1024
	// ackWait bounds how long a flush waits for the broker's PUBACKs.
	ackWait = 10 * time.Second
)

// ackSoon is how many held seqs make a machine's ack due at the next
// flush, however young they are: half the machines' confirm window
// (telemetry.DefaultConfirmWindow), so that a machine sending fast never
// waits on its window for an ack.
const ackSoon = 32

// acks holds, per machine, the seqs committed since its last ack: merged,
// sorted ranges, and when the first of them was noted.
type acks struct {
	mu   sync.Mutex
	held map[string]*heldSeqs
}

type heldSeqs struct {
	rs    []seqrange.Range
	since time.Time // the zero time: due at the next flush
}

// add notes seq of machine as held at now, merging it into the machine's
// ranges.
func (a *acks) add(machine string, seq int64, now time.Time) {
	if seq <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		a.held = map[string]*heldSeqs{}
	}
	h, ok := a.held[machine]
	if !ok {
		if len(a.held) >= maxAckMachines {
			return
		}
		h = &heldSeqs{since: now}
		a.held[machine] = h
	}
	h.rs = insertSeq(h.rs, seq)
}

// insertSeq adds seq to the sorted, merged ranges rs.
func insertSeq(rs []seqrange.Range, seq int64) []seqrange.Range {
	// The first range that ends at or after seq-1: seq joins it or goes
	// before it.
	i, _ := slices.BinarySearchFunc(rs, seq-1, func(r seqrange.Range, s int64) int { return cmp.Compare(r.To, s) })
	switch {
	case i < len(rs) && rs[i].From <= seq && seq <= rs[i].To:
		return rs // already held
	case i < len(rs) && rs[i].To == seq-1:
		rs[i].To = seq
		if i+1 < len(rs) && rs[i+1].From == seq+1 {
			rs[i].To = rs[i+1].To
			rs = slices.Delete(rs, i+1, i+2)
		}
		return rs
	case i < len(rs) && rs[i].From == seq+1:
		rs[i].From = seq
		return rs
	case len(rs) >= maxAckRanges:
		return rs // scattered beyond reason: the machine sends it again
	}
	return slices.Insert(rs, i, seqrange.Range{From: seq, To: seq})
}

// restore puts back ranges a flush could not send, merged with what was
// held meanwhile, due at the next flush.
func (a *acks) restore(held map[string][]seqrange.Range) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		a.held = map[string]*heldSeqs{}
	}
	for m, rs := range held {
		h, ok := a.held[m]
		if !ok {
			if len(a.held) >= maxAckMachines {
				continue
			}
			h = &heldSeqs{}
			a.held[m] = h
		}
		merged := seqrange.Merge(append(slices.Clone(rs), h.rs...))
		h.rs, h.since = merged[:min(len(merged), maxAckRanges)], time.Time{}
	}
}

// take removes and returns the ranges of the machines whose ack is due at
// now: those holding ackSoon seqs or more, and those whose first held seq
// was noted at least age ago (age 0: every machine).
func (a *acks) take(now time.Time, age time.Duration) map[string][]seqrange.Range {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][]seqrange.Range{}
	for m, h := range a.held {
		if age <= 0 || now.Sub(h.since) >= age || seqrange.Count(h.rs) >= ackSoon {
			out[m] = h.rs
			delete(a.held, m)
		}
	}
	return out
}

// noteHeld notes, after a committed batch, every event of a machine the
// commit handled: stored, already held (a duplicate: acknowledging it
// again heals an ack that was lost) or refused for good with a valid
// envelope of that machine (sending it again would not help). It never
// blocks on the broker.
func (g *Gateway) noteHeld(b store.Batch) {
	if g.o.AckEvery < 0 {
		return
	}
	now := g.clk.Now()
	for _, e := range b.Events {
		g.acks.add(e.Machine, e.Seq, now)
	}
	for _, q := range b.Quarantine {
		serial, _, ok := envelope.ParseEventTopic(q.Topic)
		if !ok || q.Size != int64(len(q.Payload)) {
			continue // not an event, or cut short: its seq is unknown
		}
		var env envelope.Envelope
		if json.Unmarshal(q.Payload, &env) == nil && env.Machine == serial {
			g.acks.add(serial, env.Seq, now)
		}
	}
}

// ackLoop publishes the held ranges, per machine one message at most
// every AckEvery, until ctx ends. t is its timer, made before Run
// subscribes.
func (g *Gateway) ackLoop(ctx context.Context, t clock.Timer) {
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		g.flushAcks(ctx)
		t.Reset(g.o.AckEvery)
	}
}

// flushAcks publishes one ack per machine with held ranges and waits for
// the broker's PUBACKs. A machine whose ack fails loses it: it sends those
// events again, and their duplicates are acknowledged.
func (g *Gateway) flushAcks(ctx context.Context) {
	// A machine is told once its first held seq has waited AckWithin, to
	// within one flush: at most every AckEvery would be an ack for every
	// machine and flush while the fleet sends (after an outage, as many
	// acks as a third of the events), most of them naming a seq or two.
	held := g.acks.take(g.clk.Now(), max(g.o.AckWithin-g.o.AckEvery, 0))
	if len(held) == 0 {
		return
	}
	c := g.mqttClient()
	if c == nil || !c.IsConnectionOpen() {
		g.acks.restore(held) // nothing was tried: the next flush
		return
	}
	type sent struct {
		machine string
		tok     mqtt.Token
	}
	toks := make([]sent, 0, len(held))
	for m, rs := range held {
		a := envelope.Ack{V: envelope.AckVersion, Seqs: make([][2]int64, len(rs))}
		for i, r := range rs {
			a.Seqs[i] = [2]int64{r.From, r.To}
		}
		body, err := json.Marshal(a)
		if err != nil {
			continue
		}
		toks = append(toks, sent{m, c.Publish(envelope.AckTopic(m), 1, false, body)})
	}
	timeout := g.clk.NewTimer(ackWait)
	defer timeout.Stop()
	failed := 0
	for _, s := range toks {
		select {
		case <-s.tok.Done():
			if s.tok.Error() != nil {
				failed++
			}
		case <-timeout.C():
			g.log.Warn("gateway: acks not acknowledged by the broker in time; those machines send again", slog.Int("machines", len(toks)))
			return
		case <-ctx.Done():
			return
		}
	}
	if failed > 0 {
		g.log.Warn("gateway: acks failed; those machines send again", slog.Int("machines", failed))
	}
}
