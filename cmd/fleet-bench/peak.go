package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// peakOptions shape -peak: the fleet's busiest hour, as machines publish it.
type peakOptions struct {
	txRate, containerRate float64       // the whole fleet's, a second
	duration              time.Duration // of publishing
	batchMax              int           // containers a batch (containerBatchMax)
	batchEvery            time.Duration // age of a batch (containerBatchInterval)
	heartbeat             time.Duration
	lagMachines           int           // machines whose fleet API view is polled for the live lag
	outage                time.Duration // > 0: a backlog of this long, released at once
	jitter                time.Duration // reconnects spread over this
	// tailProfile, if set, receives a CPU profile of the release's tail:
	// from the backlog stored to its last transaction at the operator.
	tailProfile string
}

// peakMachine is one machine's publishing state: its session and the
// batch it is filling, as the controller and the ledger keep them.
type peakMachine struct {
	serial, rvm string
	client      mqtt.Client
	seq         int64
	session     string
	sessionN    int
	counts      []int // the session's containers per product
	batch       []envelope.BatchContainer
	batchAt     time.Time
	credited    int64 // containers in the batches published so far
	nextBeat    time.Time
	sampled     bool
	// top is the highest seq the gateway confirmed (rvm/SERIAL/ack); open
	// is signalled when it rises.
	top  atomic.Int64
	open chan struct{}
}

// peak is the bench's state in -peak mode.
type peak struct {
	o   peakOptions
	ms  []*peakMachine
	tap *tap

	published, batches, containers atomic.Int64
	vouchers                       atomic.Int64 // codes handed out
	republished                    atomic.Int64 // sent again after a failed publish (unsettled.settle)

	mu  sync.Mutex
	txs map[string]time.Time // transaction id -> published; guarded by mu
	// lagQ holds, per sampled machine, (credited after a batch, published).
	lagQ map[string][]lagMark // guarded by mu
	lags []float64            // ms; guarded by mu
}

type lagMark struct {
	credited int64
	at       time.Time
}

// record publishes one event of m exactly as rvmd's publisher encodes an
// outbox record. With send false it is only encoded (the outbox of a
// machine offline), and returned for later.
func (p *peak) record(m *peakMachine, kind, id string, body any, now time.Time) []byte {
	b, _ := json.Marshal(body) // the bench's own times and structs: cannot fail
	m.seq++
	r := outbox.Record{Seq: m.seq, ID: id, Kind: kind, TS: now, RvmID: m.rvm, Body: b}
	return telemetry.EncodeEnvelope(make([]byte, 0, len(b)+len(id)+len(m.rvm)+160), m.serial, r)
}

// emit hands a payload to the machine's connection (online) or its
// backlog (offline).
type emitFunc func(m *peakMachine, kind string, payload []byte)

func (p *peak) online(m *peakMachine, kind string, payload []byte) mqtt.Token {
	p.published.Add(1)
	return m.client.Publish(envelope.EventTopic(m.serial, kind), 1, false, payload)
}

// unsettled holds the records one goroutine of the fleet (a connection's
// at the peak, a machine's after an outage) has published until the
// broker acknowledged them, and publishes again those whose publish
// failed, as rvmd's publisher sends again what did not arrive. paho fails
// a publish whose connection stays blocked for its write timeout (its
// "publish was broken by timeout") and keeps it only in its store, unsent
// until a reconnect: without this, a busy connection in an hour's release
// lost one record of each of 142 machines and the run never finished.
type unsettled struct {
	p    *peak
	recs []sentRecord
}

type sentRecord struct {
	m       *peakMachine
	kind    string
	payload []byte
	tok     mqtt.Token
}

// emit publishes a record and holds it until it is settled.
func (u *unsettled) emit(m *peakMachine, kind string, payload []byte) {
	u.recs = append(u.recs, sentRecord{m, kind, payload, u.p.online(m, kind, payload)})
}

// settle forgets the records the broker acknowledged and publishes again
// those whose publish failed. With wait, it first waits (up to a minute
// each) for every record's outcome; without, it looks only at those
// already decided.
func (u *unsettled) settle(ctx context.Context, wait bool) {
	keep := u.recs[:0]
	for _, r := range u.recs {
		for {
			if wait {
				r.tok.WaitTimeout(time.Minute)
			}
			if !tokenDone(r.tok) {
				keep = append(keep, r) // not decided yet
				break
			}
			if r.tok.Error() == nil || ctx.Err() != nil {
				break
			}
			u.p.republished.Add(1)
			r.tok = r.m.client.Publish(envelope.EventTopic(r.m.serial, r.kind), 1, false, r.payload)
		}
	}
	clear(u.recs[len(keep):])
	u.recs = keep
}

// tokenDone reports whether t has its outcome.
func tokenDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// flush publishes m's batch, as Ledger.FlushContainers writes it.
func (p *peak) flush(m *peakMachine, now time.Time, emit emitFunc) {
	if len(m.batch) == 0 {
		return
	}
	b := envelope.ContainerBatch{TransactionID: m.session, Containers: m.batch}
	emit(m, envelope.KindContainers, p.record(m, envelope.KindContainers, uuid.NewString(), b, now))
	m.credited += int64(len(m.batch))
	p.batches.Add(1)
	p.containers.Add(int64(len(m.batch)))
	if m.sampled {
		p.mu.Lock()
		p.lagQ[m.serial] = append(p.lagQ[m.serial], lagMark{m.credited, time.Now()})
		p.mu.Unlock()
	}
	m.batch, m.batchAt = m.batch[:0], time.Time{}
}

// insert adds one accepted container to m's session and batch; a full
// batch goes at once.
func (p *peak) insert(m *peakMachine, now time.Time, emit emitFunc) {
	if m.session == "" {
		m.session = uuid.NewString()
	}
	m.sessionN++
	if m.counts == nil {
		m.counts = make([]int, len(products))
	}
	i := rand.IntN(len(products))
	m.counts[i]++
	pr := products[i]
	m.batch = append(m.batch, envelope.BatchContainer{EAN: pr.ean, WeightMg: pr.weightMg, DepositGrosze: int64(pr.deposit.Amount), DecidedAt: now.UTC().Format(time.RFC3339Nano)})
	if len(m.batch) == 1 {
		m.batchAt = now
	}
	if len(m.batch) >= p.o.batchMax {
		p.flush(m, now, emit)
	}
}

// finish ends m's session: its last batch, then its transaction.
func (p *peak) finish(m *peakMachine, now time.Time, emit emitFunc) {
	if m.sessionN == 0 {
		p.insert(m, now, emit)
	}
	p.flush(m, now, emit)
	end := now.UTC().Truncate(time.Second)
	n := m.sessionN
	tx := drsapi.Transaction{
		ID: m.session, RvmID: m.rvm, TotalAmount: n,
		TransactionStartTime: end.Add(-time.Minute).Format(time.RFC3339), TransactionEndTime: end.Format(time.RFC3339),
		TotalAccepted: n, Containers: []drsapi.Container{},
	}
	var deposits money.Grosze
	for i, k := range m.counts {
		if k > 0 {
			g := int64(k) * products[i].weightMg / 1000
			tx.Containers = append(tx.Containers, drsapi.Container{EAN: products[i].ean, Count: k, Weight: g})
			tx.TotalWeight += g
			deposits += money.Grosze(k) * products[i].deposit.Amount
			m.counts[i] = 0
		}
	}
	// The customer takes a paper voucher, as most do: the transaction
	// names it, and a "voucher" event follows it (the ledger's order).
	code := fmt.Sprintf("29%011d", p.vouchers.Add(1))
	tx.Voucher = &drsapi.VoucherBase{ID: code, RedeemType: drsapi.RedeemValid}
	emit(m, envelope.KindTransaction, p.record(m, envelope.KindTransaction, tx.ID, tx, now))
	amount, _ := deposits.MarshalJSON() // cannot fail
	v := envelope.Voucher{ID: code, TransactionID: tx.ID, Amount: amount,
		Currency: "PLN", PrintType: 1, IssuedAt: end.Format(time.RFC3339), ValidUntil: end.AddDate(0, 0, 30).Format(time.RFC3339)}
	emit(m, envelope.KindVoucher, p.record(m, envelope.KindVoucher, uuid.NewString(), v, now))
	p.mu.Lock()
	p.txs[tx.ID] = time.Now()
	p.mu.Unlock()
	p.tap.want(tx.ID)
	m.session, m.sessionN = "", 0
}

// step moves the machines of one connection on to now: due containers and
// transactions on random machines, batches that reached their age,
// heartbeats.
func (p *peak) step(mine []*peakMachine, now time.Time, dueC, dueT int64, emit emitFunc) {
	for ; dueC > 0; dueC-- {
		p.insert(mine[rand.IntN(len(mine))], now, emit)
	}
	for ; dueT > 0; dueT-- {
		p.finish(mine[rand.IntN(len(mine))], now, emit)
	}
	for _, m := range mine {
		if len(m.batch) > 0 && now.Sub(m.batchAt) >= p.o.batchEvery {
			p.flush(m, now, emit)
		}
		p.beat(m, now, emit)
	}
}

// beat publishes m's heartbeat when it is due.
func (p *peak) beat(m *peakMachine, now time.Time, emit emitFunc) {
	if !now.After(m.nextBeat) {
		return
	}
	m.nextBeat = m.nextBeat.Add(p.o.heartbeat)
	emit(m, envelope.KindHeartbeat, p.record(m, envelope.KindHeartbeat, uuid.NewString(),
		envelope.Heartbeat{PowerStatus: "on"}, now))
}

// runPeak drives the fleet at its peak for o.duration, or (o.outage > 0)
// releases an outage's backlog, and fills res.
func runPeak(ctx context.Context, o peakOptions, f *fleet, g *gateway.Gateway, tp *tap, res *Result) error {
	p := &peak{o: o, tap: tp, txs: map[string]time.Time{}, lagQ: map[string][]lagMark{}}
	if err := warmUp(ctx, f, g, res); err != nil {
		return err
	}
	start := time.Now()
	every := max(1, len(f.serials)/max(1, o.lagMachines))
	for i, s := range f.serials {
		p.ms = append(p.ms, &peakMachine{serial: s, rvm: f.rvm[i], client: f.clients[i%len(f.clients)],
			nextBeat: start.Add(time.Duration(rand.Int64N(int64(o.heartbeat)))), sampled: i%every == 0,
			open: make(chan struct{}, 1)})
	}
	if err := p.listenAcks(f); err != nil {
		return err
	}
	if o.outage > 0 {
		// A backlog has no live lag to poll: its batches are hours old.
		return p.releaseBacklog(ctx, g, res)
	}
	api := httptest.NewServer(g.Handler())
	defer api.Close()
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); p.pollLag(lagCtx, api.URL) }()
	defer func() { stopLag(); <-lagDone }()
	conns := len(f.clients)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		var mine []*peakMachine
		for i := c; i < len(p.ms); i += conns {
			mine = append(mine, p.ms[i])
		}
		wg.Go(func() {
			perC, perT := o.containerRate/float64(conns), o.txRate/float64(conns)
			var sentC, sentT int64
			out := unsettled{p: p}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for now := range tick.C {
				el := now.Sub(start)
				if ctx.Err() != nil {
					break
				}
				dueC, dueT := int64(perC*el.Seconds())-sentC, int64(perT*el.Seconds())-sentT
				if el >= o.duration {
					// After the peak no container is decided and no session
					// ends: the batches still filling go by their age, as
					// rvmd sends them (all at once they would be a burst of
					// 10,000 batches no fleet sends), and the sessions stay
					// open.
					if !filling(mine) {
						break
					}
					dueC, dueT = 0, 0
				}
				sentC, sentT = sentC+dueC, sentT+dueT
				p.step(mine, now, dueC, dueT, out.emit)
				out.settle(ctx, false)
			}
			out.settle(ctx, true)
		})
	}
	wg.Wait()
	published := time.Since(start)
	return p.collect(ctx, g, res, start, published, max(published-o.duration, 0))
}

// backlogRecord is one record of a machine's outbox after the outage:
// the envelope as rvmd's publisher sends it, with its seq.
type backlogRecord struct {
	kind    string
	seq     int64
	payload []byte
}

// fillBacklog fills every machine's outbox as o.outage at the peak would
// (virtual time: offline, a batch goes at batchMax or with its transaction,
// not by age, as rvmd's controller does while its broker link is down; no
// heartbeats, as rvmd's publisher appends one offline only when the
// machine's health changes, and these machines stay well), from each
// machine's share of the fleet's rates, on all cores, before the release:
// a real fleet's machines wrote their outboxes during the hour, on their
// own processors.
func (p *peak) fillBacklog(ctx context.Context) [][]backlogRecord {
	virtual := time.Now().Add(-p.o.outage)
	perC := p.o.containerRate / float64(len(p.ms))
	perT := p.o.txRate / float64(len(p.ms))
	p.o.batchEvery = p.o.outage + time.Hour // offline: no age flushes
	out := make([][]backlogRecord, len(p.ms))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(p.ms) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				m := p.ms[i]
				m.sampled = false // a backlog has no live lag
				emit := func(m *peakMachine, kind string, payload []byte) {
					out[i] = append(out[i], backlogRecord{kind, m.seq, payload})
				}
				phaseC, phaseT := rand.Float64(), rand.Float64()
				var sentC, sentT int64
				for v := time.Duration(0); v < p.o.outage; v += time.Second {
					now := virtual.Add(v)
					el := (v + time.Second).Seconds()
					dueC, dueT := int64(perC*el+phaseC)-sentC, int64(perT*el+phaseT)-sentT
					sentC, sentT = sentC+dueC, sentT+dueT
					for ; dueC > 0; dueC-- {
						p.insert(m, now, emit)
					}
					for ; dueT > 0; dueT-- {
						p.finish(m, now, emit)
					}
				}
				if m.sessionN > 0 {
					p.finish(m, virtual.Add(p.o.outage), emit)
				}
			}
		})
	}
	wg.Wait()
	return out
}

// releaseBacklog brings the fleet back after o.outage at the peak, all at
// once, each machine reconnecting after a random delay within o.jitter, and
// times the backlog's way to the operator. The outboxes are filled first
// (fillBacklog). Each machine keeps to rvmd's confirm window: at most
// telemetry.DefaultConfirmWindow records beyond the highest seq the
// gateway confirmed, and at most 64 unacknowledged by the broker.
func (p *peak) releaseBacklog(ctx context.Context, g *gateway.Gateway, res *Result) error {
	filling := time.Now()
	backlog := p.fillBacklog(ctx)
	for _, b := range backlog {
		res.BacklogEvents += int64(len(b))
		for _, r := range b {
			res.BacklogBytes += int64(len(r.payload))
		}
	}
	res.BacklogFillS = time.Since(filling).Seconds()
	runtime.GC() // the filling's garbage is not the release's
	release := time.Now()
	stopProgress := p.progress(ctx, g, release)
	defer stopProgress()
	var wg sync.WaitGroup
	for i, m := range p.ms {
		delay := time.Duration(rand.Int64N(int64(max(p.o.jitter, time.Millisecond))))
		wg.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			out := unsettled{p: p}
			for n, r := range backlog[i] {
				m.confirmWindow(ctx, r.seq)
				if ctx.Err() != nil {
					return
				}
				out.emit(m, r.kind, r.payload)
				backlog[i][n].payload = nil // out holds it until the broker has it
				if (n+1)%64 == 0 {
					out.settle(ctx, true) // the publisher's window
				}
			}
			out.settle(ctx, true)
		})
	}
	wg.Wait()
	p.mu.Lock()
	for id := range p.txs {
		p.txs[id] = release
	}
	p.mu.Unlock()
	if err := p.collect(ctx, g, res, release, time.Since(release), 0); err != nil {
		return err
	}
	res.BacklogToOperatorS = res.DrainS + res.DurationS
	return nil
}

// progress writes to stderr, every 10 s of the release, what the machines
// have published, what the gateway has stored and what the operator has:
// where an outage's drain spends its time. The returned func stops it.
func (p *peak) progress(ctx context.Context, g *gateway.Gateway, start time.Time) func() {
	ctx, cancel := context.WithCancel(ctx)
	day := time.Now().UTC().Format(time.DateOnly)
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			stored, _ := g.Store().FleetContainers(ctx, day)
			fmt.Fprintf(os.Stderr, "fleet-bench: %4.0f s: published %d records, stored %d of %d containers, operator has %d transactions\n",
				time.Since(start).Seconds(), p.published.Load(), stored, p.containers.Load(), p.tap.arrivals())
		}
	}()
	return cancel
}

// listenAcks subscribes each machine, on its connection, to the gateway's
// confirmations, as rvmd's publisher does: the broker carries the ack
// traffic a real fleet causes, and after an outage each machine keeps to
// rvmd's confirm window (see releaseBacklog).
func (p *peak) listenAcks(f *fleet) error {
	bySerial := make(map[string]*peakMachine, len(p.ms))
	for _, m := range p.ms {
		bySerial[m.serial] = m
	}
	var handler mqtt.MessageHandler = func(_ mqtt.Client, msg mqtt.Message) {
		serial, ok := envelope.ParseTopicSerial(msg.Topic())
		m := bySerial[serial]
		var a envelope.Ack
		if !ok || m == nil || json.Unmarshal(msg.Payload(), &a) != nil {
			return
		}
		for _, r := range a.Seqs {
			for top := m.top.Load(); r[1] > top && !m.top.CompareAndSwap(top, r[1]); top = m.top.Load() {
			}
		}
		select {
		case m.open <- struct{}{}:
		default:
		}
	}
	f.inbox.Store(&handler)
	for c, client := range f.clients {
		topics := map[string]byte{}
		for i := c; i < len(p.ms); i += len(f.clients) {
			topics[envelope.AckTopic(p.ms[i].serial)] = 1
		}
		f.subsMu.Lock()
		f.subs[c] = topics
		f.subsMu.Unlock()
		// No handler: the messages go to the connection's default one, f.inbox.
		if t := client.SubscribeMultiple(topics, nil); !t.WaitTimeout(time.Minute) || t.Error() != nil {
			return fmt.Errorf("subscribe to the acks on connection %d: %v", c, t.Error())
		}
	}
	return nil
}

// confirmWindow waits, as rvmd's publisher does, until m's record seq
// lies within telemetry.DefaultConfirmWindow of the highest seq the
// gateway confirmed.
func (m *peakMachine) confirmWindow(ctx context.Context, seq int64) {
	for seq-m.top.Load() > telemetry.DefaultConfirmWindow && ctx.Err() == nil {
		select {
		case <-m.open:
		case <-ctx.Done():
		}
	}
}

// warmUp connects the fleet as rvmd connects: every machine publishes its
// retained status, online, and the gateway takes in its first sight of each
// (binding the serial to its rvmId). A fleet at its peak has been online
// since the morning; without this the first seconds of the peak would
// measure 10,000 first sights instead of the peak.
func warmUp(ctx context.Context, f *fleet, g *gateway.Gateway, res *Result) error {
	start := time.Now()
	var last mqtt.Token
	for i, s := range f.serials {
		st := envelope.Status{Online: true, Machine: s, RvmID: f.rvm[i], TS: start.UTC().Format(time.RFC3339)}
		b, _ := json.Marshal(st)
		last = f.clients[i%len(f.clients)].Publish(envelope.StatusTopic(s), 1, true, b)
	}
	if last != nil {
		last.WaitTimeout(time.Minute)
	}
	err := waitUntil(ctx, func() bool {
		n, err := g.Store().OnlineCount(ctx)
		return err == nil && n >= len(f.serials)
	})
	if err != nil {
		return fmt.Errorf("warm-up: the gateway has not seen all %d machines online: %w", len(f.serials), err)
	}
	res.WarmupS = round1(time.Since(start).Seconds())
	return nil
}

// pollLag polls the sampled machines' fleet view and turns each batch's
// appearance into a lag, from publish to visible.
func (p *peak) pollLag(ctx context.Context, api string) {
	var sampled []string
	for _, m := range p.ms {
		if m.sampled {
			sampled = append(sampled, m.serial)
		}
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		for _, s := range sampled {
			resp, err := cl.Get(api + "/api/machines/" + s)
			if err != nil {
				continue
			}
			var v gateway.MachineView
			_ = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			now := time.Now()
			p.mu.Lock()
			q := p.lagQ[s]
			for len(q) > 0 && q[0].credited <= v.ContainersToday {
				p.lags = append(p.lags, float64(now.Sub(q[0].at).Microseconds())/1000)
				q = q[1:]
			}
			p.lagQ[s] = q
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// filling reports whether a machine of ms has a batch waiting for its size
// or age.
func filling(ms []*peakMachine) bool {
	for _, m := range ms {
		if len(m.batch) > 0 {
			return true
		}
	}
	return false
}

// collect waits for every transaction at the operator and every container
// in the gateway's store, and fills res. tail is how long the fleet went
// on sending its last batches by their age after the peak: no container
// was decided then, so containersPerS leaves it out (the wait for the
// first batches at the start stays in).
func (p *peak) collect(ctx context.Context, g *gateway.Gateway, res *Result, start time.Time, published, tail time.Duration) error {
	p.mu.Lock()
	txs := maps.Clone(p.txs)
	p.mu.Unlock()
	want := p.containers.Load()
	day := time.Now().UTC().Format(time.DateOnly)
	var stored int64
	storedAt := time.Now()
	// Polled every 50 ms: the sum over 10,000 machines' rows is not free,
	// and the gateway shares the CPU.
	for stored < want {
		n, err := g.Store().FleetContainers(ctx, day)
		if err == nil && n != stored {
			stored, storedAt = n, time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the gateway to store %d containers (has %d): %w", want, stored, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p.o.tailProfile != "" {
		stop, err := profileCPU(p.o.tailProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := waitUntil(ctx, func() bool { return p.tap.arrivals() == len(txs) }); err != nil {
		return fmt.Errorf("waiting for the operator to receive %d transactions (has %d): %w", len(txs), p.tap.arrivals(), err)
	}
	// The last batches' lags: give the poller a round.
	time.Sleep(500 * time.Millisecond)
	res.DurationS = published.Seconds()
	res.DrainS = time.Since(start.Add(published)).Seconds()
	res.Published, res.Republished = p.published.Load(), p.republished.Load()
	res.AchievedRate = float64(res.Published) / published.Seconds()
	res.Transactions = int64(len(txs))
	res.Delivered = p.tap.count(txs)
	res.ContainersPublished = want
	res.Batches = p.batches.Load()
	res.ContainersPerS = round1(float64(stored) / (storedAt.Sub(start) - tail).Seconds())
	if p.o.outage > 0 {
		res.BacklogStoredS = storedAt.Sub(start).Seconds()
	}
	var lat []float64
	for id, at := range txs {
		lat = append(lat, float64(p.tap.at(id).Sub(at).Microseconds())/1000)
	}
	slices.Sort(lat)
	res.P50ms, res.P99ms, res.MaxMs = quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1]
	p.mu.Lock()
	lags := slices.Clone(p.lags)
	p.mu.Unlock()
	slices.Sort(lags)
	res.LiveLagP99Ms, res.LiveLagSamples = quantile(lags, 0.99), len(lags)
	return nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
