package telemetry

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// confirmQueue hands the gateway's ranges from paho's handler goroutines
// to the remover without ever blocking the handler.
type confirmQueue struct {
	signal chan struct{}
	mu     sync.Mutex
	q      []outbox.Range
}

// push queues rs and wakes the remover; past maxQueuedConfirms ranges the
// queue is merged, so memory stays bounded.
func (q *confirmQueue) push(rs []outbox.Range) {
	if len(rs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(q.q, rs...)
	if len(q.q) > maxQueuedConfirms {
		q.q = outbox.MergeRanges(q.q)
		if len(q.q) > maxQueuedConfirms {
			// Scattered beyond reason: keep the oldest. What is left
			// out stays unconfirmed, is sent again and confirmed again.
			q.q = q.q[:maxQueuedConfirms]
		}
	}
	signal(q.signal)
}

func (q *confirmQueue) take() []outbox.Range {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out
}

// onAck takes the gateway's confirmation from rvm/SERIAL/ack. A malformed
// one is logged and dropped: the records stay unconfirmed and are sent
// again, and the gateway confirms their duplicates.
func (p *Publisher) onAck(payload []byte) {
	if !p.opts.GatewayAcks {
		return // a subscription left in the persistent session
	}
	var a envelope.Ack
	if err := json.Unmarshal(payload, &a); err != nil || a.V != envelope.AckVersion {
		p.log.Warn("telemetry: malformed ack", "err", err, "v", a.V)
		return
	}
	rs := make([]outbox.Range, 0, len(a.Seqs))
	for _, r := range a.Seqs {
		rs = append(rs, outbox.Range{From: r[0], To: r[1]})
	}
	p.confirms.push(rs)
}

// sendRun is a run of consecutive seqs sent from start to at.
type sendRun struct {
	lo, hi    int64
	start, at time.Time
}

// markSentLocked notes that seq was sent at now. Runs are kept for the last
// ResendAfter only: a seq in none was sent longer ago (or, after a
// restart, never by this process). Call with p.mu held.
func (p *Publisher) markSentLocked(seq int64, now time.Time) {
	if n := len(p.sendLog); n > 0 {
		last := &p.sendLog[n-1]
		if seq == last.hi+1 && now.Sub(last.start) < p.opts.ResendAfter/10 {
			last.hi, last.at = seq, now
			return
		}
	}
	cutoff := now.Add(-p.opts.ResendAfter)
	i := 0
	for i < len(p.sendLog) && !p.sendLog[i].at.After(cutoff) {
		i++
	}
	p.sendLog = append(p.sendLog[:copy(p.sendLog, p.sendLog[i:])], sendRun{lo: seq, hi: seq, start: now, at: now})
}

// sentSinceLocked reports whether seq was sent after cutoff. Call with p.mu
// held.
func (p *Publisher) sentSinceLocked(seq int64, cutoff time.Time) bool {
	for i := len(p.sendLog) - 1; i >= 0; i-- {
		r := p.sendLog[i]
		if !r.at.After(cutoff) {
			return false // the runs before it are older still
		}
		if r.lo <= seq && seq <= r.hi {
			return true
		}
	}
	return false
}

// resendCheck is how often the resender looks for records due again.
func (p *Publisher) resendCheck() time.Duration {
	return min(max(p.opts.ResendAfter/4, 10*time.Millisecond), time.Second)
}

// resender hands sendLoop, for one connection, the records the gateway
// evidently missed: sent, not confirmed for ResendAfter, and below the
// highest seq it confirmed. It looks when the gateway confirms a higher
// seq and every resendCheck.
func (p *Publisher) resender(ctx context.Context, out chan<- outbox.Record) {
	t := p.opts.Clock.NewTicker(p.resendCheck())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-p.topSig:
		}
		if err := p.resendMissed(ctx, out); err != nil && ctx.Err() == nil {
			p.log.Error("telemetry: resend", "err", err)
		}
	}
}

func (p *Publisher) resendMissed(ctx context.Context, out chan<- outbox.Record) error {
	p.mu.Lock()
	upto, top := p.confirmed.Upto, p.confirmed.Top
	p.mu.Unlock()
	if top <= upto {
		return nil // nothing the gateway confirmed lies beyond a gap
	}
	now := p.opts.Clock.Now()
	cutoff := now.Add(-p.opts.ResendAfter)
	after := upto
	for {
		recs, err := outbox.Unconfirmed(ctx, p.db, after, top, batchSize)
		if err != nil {
			return err
		}
		var due []outbox.Record
		p.mu.Lock()
		for _, r := range recs {
			if !p.sentSinceLocked(r.Seq, cutoff) {
				p.markSentLocked(r.Seq, now)
				due = append(due, r)
			}
		}
		p.mu.Unlock()
		if len(due) > 0 {
			p.log.Info("telemetry: sending again what the gateway did not confirm",
				"records", len(due), "first", due[0].Seq, "last", due[len(due)-1].Seq, "highestConfirmed", top)
		}
		for _, r := range due {
			select {
			case out <- r:
			case <-ctx.Done():
				return nil
			}
		}
		if len(recs) < batchSize {
			return nil
		}
		after = recs[len(recs)-1].Seq
	}
}
