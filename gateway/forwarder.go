package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// forward claims machines whose operator queue is due and drains each in
// its own goroutine, so that a machine waiting out a backoff holds up no
// other machine.
func (g *Gateway) forward(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	active := 0
	done := make(chan struct{}, g.o.Concurrency)
	tick := g.clk.NewTicker(g.o.PollInterval)
	defer tick.Stop()
	for {
		mu.Lock()
		free := g.o.Concurrency - active
		mu.Unlock()
		if free > 0 {
			claims, err := g.st.ClaimMachines(ctx, g.owner, g.clk.Now(), g.o.Lease, free)
			if err != nil && ctx.Err() == nil {
				g.log.Error("gateway: claim machines", slog.String("err", err.Error()))
			}
			for _, c := range claims {
				mu.Lock()
				active++
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					g.drain(ctx, c)
					mu.Lock()
					active--
					mu.Unlock()
					select {
					case done <- struct{}{}:
					default:
					}
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		case <-done:
		case <-tick.C():
		}
	}
}

// recordReq asks the recorder to record a delivery, a release, or a
// delivery and then a release in the same commit.
type recordReq struct {
	d    *store.Delivery
	r    *store.Release
	done chan error
}

// record hands req to the recorder, which commits the requests of all
// machines that finished meanwhile together; the channel reports the
// commit.
func (g *Gateway) record(ctx context.Context, req recordReq) chan error {
	req.done = make(chan error, 1)
	select {
	case g.rec <- req:
	case <-ctx.Done():
		req.done <- ctx.Err()
	}
	return req.done
}

// recorder group-commits deliveries and releases until g.rec is closed: on
// SQLite every commit waits for the one writer, which the consumer holds
// for a whole batch at a time, and one commit per delivery or release
// would cap the forwarder at a few machines a batch.
func (g *Gateway) recorder() {
	batch := make([]recordReq, 0, 1024)
	for first := range g.rec {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-g.rec:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		var ds []store.Delivery
		var rs []store.Release
		for _, r := range batch {
			if r.d != nil {
				ds = append(ds, *r.d)
			}
			if r.r != nil {
				rs = append(rs, *r.r)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := g.st.RecordForwarding(ctx, ds, rs)
		cancel()
		for _, r := range batch {
			r.done <- err
		}
	}
}

// outcome of one delivery attempt.
type outcome int

const (
	delivered outcome = iota
	transient
	refused
)

// runMax bounds the pending events a drain reads at once: after an outage
// a machine's queue holds hours of transactions, and reading them a run at
// a time costs three queries a run instead of three an event.
const runMax = 64

// drain delivers a claimed machine's pending events in seq order until
// none is left, a transient failure parks the machine, or the lease is lost.
// Within a run the operator's calls go one after the other while their
// deliveries are recorded behind them (a crash before a record is harmless:
// the event goes again and the operator answers 409); the run's records are
// all committed before the next run is read.
func (g *Gateway) drain(ctx context.Context, c store.Claim) {
	fails := c.Fails
	nextAt := time.Time{}
	renewAt := g.clk.Now().Add(g.o.Lease / 2)
	released := false
	defer func() {
		if released {
			return
		}
		// Releasing must happen even when ctx is done: otherwise the
		// machine waits out the lease after a clean restart.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		r := store.Release{Machine: c.Machine, Owner: g.owner, NextAt: nextAt, Fails: fails, Arrivals: c.Arrivals}
		err := <-g.record(rctx, recordReq{r: &r})
		if err != nil {
			g.log.Error("gateway: release", slog.String("machine", c.Machine), slog.String("err", err.Error()))
		}
	}()
	for ctx.Err() == nil {
		if now := g.clk.Now(); !now.Before(renewAt) {
			ok, err := g.st.RenewLease(ctx, c.Machine, g.owner, now.Add(g.o.Lease))
			if err != nil || !ok {
				return
			}
			renewAt = now.Add(g.o.Lease / 2)
		}
		run, err := g.st.PendingRun(ctx, c.Machine, runMax)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Error("gateway: pending events", slog.String("machine", c.Machine), slog.String("err", err.Error()))
				nextAt = g.clk.Now().Add(backoff.Policy{Min: g.o.BaseBackoff, Max: g.o.MaxBackoff}.Wait(1))
			}
			return
		}
		if len(run.Events) == 0 {
			fails, nextAt = 0, store.Idle
			return
		}
		if seq, ok := missing(run, 0); ok {
			if run.States[seq] == store.StatePending {
				continue // a predecessor arrived after the run was read
			}
			if wait := g.gap(run.Events[0]); wait > 0 {
				// The missing event's arrival wakes the machine (see
				// store.Release); the recheck bounds the wait all the same.
				nextAt = g.clk.Now().Add(min(wait, gapRecheck))
				return
			}
		}
		n := 1
		for n < len(run.Events) {
			if _, ok := missing(run, n); ok {
				break
			}
			n++
		}
		// A run that holds all that was pending ends the drain: its
		// release goes in the commit of its last delivery, one wait for
		// the writer instead of two. Events stored since the claim make
		// the release due at once (see store.Release).
		var final *store.Release
		if n == len(run.Events) && n < runMax {
			final = &store.Release{Machine: c.Machine, Owner: g.owner, NextAt: store.Idle, Arrivals: c.Arrivals}
		}
		res, retryAfter, done := g.deliverRun(ctx, run.Events[:n], run.Vouchers, final)
		if done {
			released = true
			return
		}
		if ctx.Err() != nil {
			return
		}
		if res == transient {
			fails++
			wait := max(backoff.Policy{Min: g.o.BaseBackoff, Max: g.o.MaxBackoff}.Wait(fails), retryAfter)
			nextAt = g.clk.Now().Add(wait)
			return
		}
		fails = 0
	}
}

// missing returns the first predecessor of run.Events[i], back to the
// previous event of the run (for the first, to run.Base), that holds it
// back: one that has not arrived, or a pending event the run missed because
// it arrived after the run was read.
func missing(run store.Run, i int) (int64, bool) {
	if run.Arrived {
		return 0, false
	}
	from := run.Base + 1
	if i > 0 {
		from = run.Events[i-1].Seq + 1
	}
	for seq := from; seq < run.Events[i].Seq; seq++ {
		if state, ok := run.States[seq]; !ok || state == store.StatePending {
			return seq, true
		}
	}
	return 0, false
}

// deliverRun hands evs to the operator in order, stopping at the first
// that does not go through, and waits for their deliveries to be recorded.
// vouchers are the stored vouchers of evs' transactions, by code (see
// store.Run). It returns transient when a call or a record failed. When
// the last event is delivered, final (if not nil) is committed with its
// record, and released reports that it was.
func (g *Gateway) deliverRun(ctx context.Context, evs []store.Event, vouchers map[string]store.Voucher, final *store.Release) (_ outcome, _ time.Duration, released bool) {
	type recording struct {
		ev   store.Event
		at   time.Time
		done chan error
	}
	var recs []recording
	res, retryAfter := delivered, time.Duration(0)
	for i, ev := range evs {
		var done chan error
		var rel *store.Release
		if i == len(evs)-1 {
			rel = final
		}
		res, retryAfter, done = g.deliver(ctx, ev, vouchers, rel)
		released = rel != nil && res == delivered && done != nil
		if done != nil {
			recs = append(recs, recording{ev, g.clk.Now(), done})
		}
		if res != delivered || ctx.Err() != nil {
			break
		}
	}
	for _, r := range recs {
		if err := <-r.done; err != nil {
			g.log.Error("gateway: record delivery", slog.String("id", r.ev.ID), slog.String("err", err.Error()))
			res, released = transient, false
			continue
		}
		g.met.forwarded(r.ev.Kind, r.at.Sub(r.ev.ReceivedAt))
	}
	return res, retryAfter, released
}

// gapRecheck bounds how long a machine waiting for a missing event sleeps
// before it looks again.
const gapRecheck = 250 * time.Millisecond

// gap returns how long to hold ev back because a predecessor has not
// arrived yet: with several replicas (or a redelivery after a reconnect) a
// machine's events are not stored in seq order. A gap that outlasts GapWait
// is given up on: the missing event may have been quarantined, or published
// before this gateway existed (then a machine's first event waits GapWait
// once).
func (g *Gateway) gap(ev store.Event) time.Duration {
	return max(ev.ReceivedAt.Add(g.o.GapWait).Sub(g.clk.Now()), 0)
}

// deliver hands one event to the operator and records the result; an
// acceptance is recorded through the recorder (with rel, if not nil, in the
// same commit), and done reports its commit.
func (g *Gateway) deliver(ctx context.Context, ev store.Event, vouchers map[string]store.Voucher, rel *store.Release) (res outcome, retryAfter time.Duration, done chan error) {
	response, err := g.call(ctx, ev, vouchers)
	now := g.clk.Now()
	if ctx.Err() != nil {
		return transient, 0, nil
	}
	switch {
	case err == nil || errors.Is(err, drs.ErrAlreadyDelivered):
		if err != nil {
			response, _ = json.Marshal(map[string]string{"result": "already delivered (409)"})
		}
		return delivered, 0, g.record(ctx, recordReq{d: &store.Delivery{ID: ev.ID, At: now, Response: response}, r: rel})
	case isTransient(err):
		var ae *drs.APIError
		var retryAfter time.Duration
		if errors.As(err, &ae) {
			retryAfter = ae.RetryAfter
		}
		g.log.Warn("gateway: delivery failed, will retry", slog.String("id", ev.ID), slog.String("machine", ev.Machine),
			slog.String("kind", ev.Kind), slog.String("err", err.Error()))
		if merr := g.st.MarkAttempt(ctx, ev.ID, now, err.Error()); merr != nil {
			g.log.Error("gateway: record attempt", slog.String("id", ev.ID), slog.String("err", merr.Error()))
		}
		g.met.retried(ev.Kind)
		return transient, retryAfter, nil
	default:
		f := store.Failure{EventID: ev.ID, Machine: ev.Machine, Kind: ev.Kind, Reason: err.Error(), LastTry: now}
		var ae *drs.APIError
		if errors.As(err, &ae) {
			f.HTTPStatus = ae.Status
			f.Code = ae.Exception.Code()
			f.Message = ae.Exception.String()
			if f.Message == "" {
				f.Message = ae.Body
			}
		}
		g.log.Warn("gateway: operator refused event", slog.String("id", ev.ID), slog.String("machine", ev.Machine),
			slog.String("kind", ev.Kind), slog.String("err", err.Error()))
		if merr := g.st.MarkFailed(ctx, f); merr != nil {
			g.log.Error("gateway: record failure", slog.String("id", ev.ID), slog.String("err", merr.Error()))
			return transient, 0, nil
		}
		g.met.failed(ev.Kind)
		return refused, 0, nil
	}
}

// isTransient says whether err may go away by itself. A rejected token
// is one: it is the gateway's configuration, not the event, that is wrong,
// and parking every event in the failure report would bury the real ones.
func isTransient(err error) bool {
	var pe *errBody
	if errors.As(err, &pe) {
		return false
	}
	return drs.Retryable(err) || errors.Is(err, drs.ErrUnauthorized)
}

// errBody marks an event the gateway itself cannot send (a body that does
// not decode, a kind not for the operator): no retry helps.
type errBody struct{ err error }

func (e *errBody) Error() string { return "gateway: cannot send: " + e.err.Error() }
func (e *errBody) Unwrap() error { return e.err }

// call performs the operator call of one event and returns the operator's
// answer to record. vouchers are the stored vouchers known before the call,
// by code (nil for none).
func (g *Gateway) call(ctx context.Context, ev store.Event, vouchers map[string]store.Voucher) ([]byte, error) {
	switch ev.Kind {
	case envelope.KindTransaction:
		var t drsapi.Transaction
		if err := json.Unmarshal(ev.Body, &t); err != nil {
			return nil, &errBody{err}
		}
		a, err := g.fwdDRS.PostTransactionAnswer(ctx, t)
		if err != nil {
			return nil, err
		}
		if a.Blocked {
			// The operator blocks the transaction from payment: its voucher
			// must not be paid at a till (see store.ReserveVoucher).
			var amount money.Grosze
			if err := amount.UnmarshalJSON([]byte(strconv.FormatFloat(a.Amount, 'f', -1, 64))); err != nil {
				g.log.Warn("gateway: operator's amount", slog.String("id", t.ID), slog.String("err", err.Error()))
			}
			c := store.Confirmation{TransactionID: t.ID, Blocked: true, Amount: amount, Currency: a.Currency, ConfirmedAt: g.clk.Now()}
			if err := g.st.PutConfirmation(ctx, c); err != nil {
				return nil, err
			}
		}
		v := a.VoucherData
		if v.ID != "" {
			// The operator may issue the code itself (the machine sent none);
			// the POS must know it either way. Mostly the machine's events
			// brought all of it, which the run's read tells without a
			// query of its own.
			vu := store.Voucher{Code: v.ID, Machine: ev.Machine, RvmID: t.RvmID, TransactionID: t.ID,
				PrintType: v.PrintType, IssuedAt: parseTime(v.IssuedAt), ValidUntil: parseTime(v.ValidUntil)}
			if known, ok := vouchers[v.ID]; !ok || store.Adds(known, vu) {
				if err := g.st.PutVoucher(ctx, vu); err != nil {
					return nil, err
				}
			}
		}
		return json.Marshal(a)
	case envelope.KindBagFillStatus:
		var b drsapi.BagFillStatus
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			return nil, &errBody{err}
		}
		r, err := g.fwdDRS.BagFillStatus(ctx, b)
		if err != nil {
			return nil, err
		}
		return json.Marshal(r)
	case envelope.KindBagReplacement:
		var b drsapi.BagReplacement
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			return nil, &errBody{err}
		}
		return []byte(`{}`), g.fwdDRS.PostBagReplacement(ctx, b)
	case envelope.KindBagSeal:
		var b drsapi.BagSeal
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			return nil, &errBody{err}
		}
		return []byte(`{}`), g.fwdDRS.PostBagSeal(ctx, b)
	case envelope.KindRegistration:
		return g.register(ctx, ev)
	}
	return nil, &errBody{fmt.Errorf("kind %q is not for the operator", ev.Kind)}
}

// register performs a machine's registration request: POST /machine, then
// the rvmId goes back to the machine as a set-rvm-id command. A publish
// that fails makes the whole step transient: the operator answers a repeated
// registration of the same serial with the same id.
func (g *Gateway) register(ctx context.Context, ev store.Event) ([]byte, error) {
	var m drsapi.MachineUpdate
	if err := json.Unmarshal(ev.Body, &m); err != nil {
		return nil, &errBody{err}
	}
	if m.SerialNumber == "" {
		m.SerialNumber = ev.Machine
	}
	id, err := g.fwdDRS.RegisterMachine(ctx, m)
	if err != nil {
		return nil, err
	}
	if err := g.st.SetRvmID(ctx, ev.Machine, id); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"rvmId": id})
	cmd, _ := json.Marshal(envelope.Command{ID: "set-rvm-id-" + ev.ID, TS: g.clk.Now().UTC().Format(time.RFC3339), Body: body})
	if err := g.publish(ctx, envelope.CommandTopic(ev.Machine, envelope.CmdSetRvmID), cmd); err != nil {
		return nil, err
	}
	return json.Marshal(drsapi.MachineID{ID: id})
}
