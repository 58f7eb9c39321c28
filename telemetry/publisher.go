package telemetry

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/mqttconn"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Sentinel errors.
var (
	// ErrConfig is wrapped by NewPublisher's errors about its Options.
	ErrConfig = errors.New("telemetry: bad options")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("telemetry: publisher already running")
)

// Defaults for zero Options fields.
const (
	DefaultWindow     = 64
	DefaultBackoffMin = 500 * time.Millisecond
	// DefaultBackoffMax keeps a machine's reconnect within a few seconds
	// of the broker's return (a day's outbox is then delivered within 5 s);
	// the jitter spreads a fleet's reconnects over half of it.
	DefaultBackoffMax        = 4 * time.Second
	DefaultHeartbeatInterval = 60 * time.Second
	// DefaultResendAfter is above the gateway's confirmation delay (15 s
	// at most by default) and a replica's batch, so that a record is only
	// sent again when the gateway evidently missed it; and only a record
	// below a seq the gateway confirmed is.
	DefaultResendAfter = 30 * time.Second
	// DefaultConfirmWindow bounds what a machine has sent beyond the
	// gateway's highest confirmed seq: after an outage the backlog waits
	// in the machine's outbox, on its disk, instead of in the broker's
	// memory (10,000 machines × 64 records is about 2 GB at the broker;
	// an hour's backlog of that fleet would be 10 GB). The gateway acks a
	// machine with 32 records waiting at its next look (every 5 s by
	// default), so a machine still sends 12 records a second or more.
	DefaultConfirmWindow = 64
)

const (
	// batchSize bounds the records read per query, so memory does not grow
	// with the outbox depth.
	batchSize = 1024
	// ackBatch bounds the records removed per SQLite transaction.
	ackBatch = 1024
	// ackLinger is how long the remover gathers acknowledgements before a
	// commit; Drain returns at most this much later.
	ackLinger = 10 * time.Millisecond
	// sweepIdle is how long the remover waits without an acknowledgement
	// before it deletes acknowledged records, sweepChunk at a time.
	sweepIdle  = 200 * time.Millisecond
	sweepChunk = 1000
	// ackQueue bounds the acknowledged seqs waiting for removal; when the
	// disk falls that far behind, the window waits for it.
	ackQueue = 4096
	// pollInterval catches records appended without Notify (another
	// process on the same file).
	pollInterval = 5 * time.Second
	// shutdownWait bounds how long a clean shutdown waits for the broker to
	// take the offline status.
	shutdownWait   = 3 * time.Second
	connectTimeout = 10 * time.Second
	// writeTimeout bounds a Publish that raced a dying connection (paho
	// then blocks on a channel nobody reads).
	writeTimeout = 5 * time.Second
	keepAlive    = 30 * time.Second
	// stableSession is how long a connection must have lasted for the
	// next reconnect to start again from the shortest backoff.
	stableSession = 30 * time.Second
	// maxQueuedConfirms bounds the gateway's ranges waiting for the
	// remover; beyond it they are merged.
	maxQueuedConfirms = 4096
)

// Options configure a Publisher.
type Options struct {
	Broker             string      // tcp://host:1883, ssl://host:8883
	Serial             string      // the machine's serial; topics rvm/SERIAL/..., client id rvm-SERIAL
	Username, Password string      // per-machine credentials, if the broker wants them
	TLS                *tls.Config // for ssl:// brokers; see TLSConfig
	Firmware           string      // reported in the status
	Clock              clock.Clock // default clock.Real
	Logger             *slog.Logger
	// Backoff bounds the jittered wait between connection attempts
	// (defaults DefaultBackoffMin, DefaultBackoffMax).
	Backoff struct{ Min, Max time.Duration }
	// Window is the most QoS 1 publishes awaiting PUBACK at once
	// (default DefaultWindow).
	Window int
	// StatusFunc returns the machine's current status; the publisher fills
	// in online, machine, firmware, outbox depth and ts. May be nil.
	StatusFunc func() envelope.Status
	// Commands applies commands; nil answers every command but status with
	// an error.
	Commands CommandHandler
	// HeartbeatFunc returns the machine's health for a heartbeat event,
	// appended every HeartbeatInterval (default DefaultHeartbeatInterval).
	// Nil means no heartbeats.
	HeartbeatInterval time.Duration
	HeartbeatFunc     func() envelope.Heartbeat
	// GatewayAcks keeps every record until the gateway confirms it on
	// rvm/SERIAL/ack, and sends again what the gateway evidently missed
	// (see "Confirmation" in the package documentation). False: the
	// broker's PUBACK is enough, for a broker without that gateway (rvmd
	// simulate -mqtt, benchmarks).
	GatewayAcks bool
	// ResendAfter is how long a sent record stays unconfirmed before it
	// is sent again, once the gateway confirmed a later one (default
	// DefaultResendAfter). Only with GatewayAcks.
	ResendAfter time.Duration
	// ConfirmWindow is the most records sent with a seq above the highest
	// one the gateway confirmed (default DefaultConfirmWindow); the rest
	// wait in the outbox until the gateway confirms more. Only with
	// GatewayAcks; a record the gateway missed does not hold the window,
	// the ones after it confirmed move it on.
	ConfirmWindow int
	// OnLink, when set, is told when the broker connection comes up
	// (true) or goes (false), from the publisher's own goroutine; it must
	// not block. The machine uses it to hold its age-bound container
	// batches while nothing can be live (docs/telemetry.md).
	OnLink func(up bool)
}

// CommandHandler applies a command from the fleet. It runs on the
// publisher's command worker, one command at a time. A non-nil error is
// sent back as the reply's error; result, if not nil, is marshalled into
// the reply's result.
type CommandHandler interface {
	HandleCommand(ctx context.Context, name string, cmd envelope.Command) (result any, err error)
}

// Stats count what the publisher did since it was created.
type Stats struct {
	Sent   uint64 // event publishes handed to paho, resends included
	Acked  uint64 // records marked sent after their PUBACK
	Resent uint64 // publishes of a seq that had been sent before
	// GapResent counts the publishes of records the gateway evidently
	// missed (unconfirmed below a seq it confirmed); Resent counts them too.
	GapResent uint64
	// Unconfirmed is how many records the gateway (without GatewayAcks, the
	// broker) had not confirmed at the last acknowledgement the publisher
	// recorded: they are still on disk.
	Unconfirmed int64
	Epoch       uint64 // connection attempts so far; the current connection's number
	Connected   bool
}

// Publisher drains the outbox to the broker and serves commands.
type Publisher struct {
	// Immutable.
	db       *sql.DB
	opts     Options
	log      *slog.Logger
	notify   chan struct{} // Notify: the outbox grew
	acks     chan int64    // acknowledged seqs, to remove
	statusCh chan struct{} // StatusChanged
	cmds     cmdQueue
	confirms confirmQueue  // the gateway's ranges, to record
	topSig   chan struct{} // the gateway confirmed a higher seq: look for gaps
	openSig  chan struct{} // the gateway confirmed a higher seq: the confirm window moved
	upSig    chan struct{} // a connection was made (see setClient)
	ackIdle  chan struct{} // the last publish in flight was acknowledged (see linger)

	// abandoned counts the clean-ups of connects that Run gave up on when
	// it was cancelled; they end with paho's connect timeout at the latest.
	abandoned sync.WaitGroup

	// Mutable, guarded by mu.
	mu        sync.Mutex
	running   bool
	epoch     uint64
	client    mqtt.Client // of the current epoch; nil while disconnected
	connected bool
	sent      uint64
	acked     uint64
	resent    uint64
	maxSent   int64
	progress  chan struct{} // closed (and replaced) after records were removed
	// The gateway's confirmations as last recorded, and when each seq was
	// last sent (runs of seqs, for the last ResendAfter).
	confirmed outbox.Confirmation
	gapResent uint64
	sendLog   []sendRun
	lastBeat  *envelope.Heartbeat // the last heartbeat appended (see heartbeat)
}

// NewPublisher checks opts and prepares db (the ledger's SQLite, which holds
// the outbox) with the outbox and cmd_log tables. It does not connect.
func NewPublisher(db *sql.DB, opts Options) (*Publisher, error) {
	switch {
	case db == nil:
		return nil, fmt.Errorf("%w: no database", ErrConfig)
	case opts.Broker == "":
		return nil, fmt.Errorf("%w: no broker URL", ErrConfig)
	case opts.Serial == "" || strings.ContainsAny(opts.Serial, "/+#"):
		return nil, fmt.Errorf("%w: serial %q must be non-empty without / + #", ErrConfig, opts.Serial)
	case opts.Window < 0 || opts.Backoff.Min < 0 || opts.Backoff.Max < 0 || opts.HeartbeatInterval < 0 || opts.ResendAfter < 0 || opts.ConfirmWindow < 0:
		return nil, fmt.Errorf("%w: negative window, backoff, heartbeat interval or resend delay", ErrConfig)
	case opts.Backoff.Max != 0 && opts.Backoff.Max < opts.Backoff.Min:
		return nil, fmt.Errorf("%w: backoff max %v below min %v", ErrConfig, opts.Backoff.Max, opts.Backoff.Min)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if opts.Backoff.Min == 0 {
		opts.Backoff.Min = DefaultBackoffMin
	}
	if opts.Backoff.Max == 0 {
		opts.Backoff.Max = max(DefaultBackoffMax, opts.Backoff.Min)
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.ConfirmWindow == 0 {
		opts.ConfirmWindow = DefaultConfirmWindow
	}
	if opts.ResendAfter == 0 {
		opts.ResendAfter = DefaultResendAfter
	}
	ctx := context.Background()
	if err := outbox.Init(ctx, db); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if _, err := db.ExecContext(ctx, cmdLogSchema); err != nil {
		return nil, fmt.Errorf("telemetry: create cmd_log: %w", err)
	}
	return &Publisher{
		db:       db,
		opts:     opts,
		log:      opts.Logger.With("machine", opts.Serial),
		notify:   make(chan struct{}, 1),
		acks:     make(chan int64, ackQueue),
		statusCh: make(chan struct{}, 1),
		cmds:     cmdQueue{signal: make(chan struct{}, 1)},
		confirms: confirmQueue{signal: make(chan struct{}, 1)},
		topSig:   make(chan struct{}, 1),
		openSig:  make(chan struct{}, 1),
		upSig:    make(chan struct{}, 1),
		ackIdle:  make(chan struct{}, 1),
		progress: make(chan struct{}),
	}, nil
}

// Notify tells the publisher that records were appended. The ledger calls
// it after each commit that appended any; it never blocks.
func (p *Publisher) Notify() { signal(p.notify) }

// StatusChanged asks for the retained status to be published again.
func (p *Publisher) StatusChanged() { signal(p.statusCh) }

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Sent: p.sent, Acked: p.acked, Resent: p.resent, GapResent: p.gapResent,
		Unconfirmed: p.confirmed.Unconfirmed, Epoch: p.epoch, Connected: p.connected}
}

// Drain blocks until every record was acknowledged by the broker (Depth
// is 0), or ctx ends. It does not wait for the gateway's confirmations.
// Run must be running meanwhile.
func (p *Publisher) Drain(ctx context.Context) error {
	p.Notify()
	for {
		p.mu.Lock()
		progress := p.progress
		p.mu.Unlock()
		rows, _, err := outbox.Depth(ctx, p.db)
		if err != nil {
			return fmt.Errorf("telemetry: drain: %w", err)
		}
		if rows == 0 {
			return nil
		}
		t := p.opts.Clock.NewTimer(pollInterval)
		select {
		case <-progress:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("telemetry: drain: %d records not acknowledged: %w", rows, ctx.Err())
		}
		t.Stop()
	}
}

// Run connects to the broker, drains the outbox, serves commands and
// reconnects with backoff until ctx ends. It then publishes the offline
// status, disconnects and returns nil.
func (p *Publisher) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return ErrRunning
	}
	p.running = true
	// After a restart nobody knows when the unconfirmed records were last
	// sent: they count as sent now.
	p.sendLog = []sendRun{{lo: 1, hi: math.MaxInt64, start: p.opts.Clock.Now(), at: p.opts.Clock.Now()}}
	p.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { p.commandWorker(ctx) })
	wg.Go(func() { p.remover(ctx) })
	if p.opts.HeartbeatFunc != nil {
		wg.Go(func() { p.heartbeats(ctx) })
	}

	var attempt int
	for {
		c, epoch, lost, ready, err := p.connect(ctx)
		if err == nil {
			start := p.opts.Clock.Now()
			p.session(ctx, c, epoch, lost, ready)
			// A broker that takes the connection and drops it at once
			// (an ACL, a takeover) must not be hammered: only a session
			// that lasted resets the backoff.
			if p.opts.Clock.Since(start) >= stableSession {
				attempt = 0
			}
			p.setClient(nil, epoch)
			if ctx.Err() != nil {
				p.shutdown(c)
				return nil
			}
			// The dead client is dropped with its tokens: nothing can
			// complete them now, and their acker is gone. Disconnect
			// only matters if paho had not noticed the loss yet.
			c.Disconnect(0)
		} else if ctx.Err() == nil {
			p.log.Warn("telemetry: connect failed", "broker", p.opts.Broker, "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		attempt++
		if clock.Sleep(ctx, p.opts.Clock, backoff.Policy{Min: p.opts.Backoff.Min, Max: p.opts.Backoff.Max}.Wait(attempt)) != nil {
			return nil
		}
	}
}

// connect makes a new paho client, the next epoch, and connects it.
// lost is closed when that connection dies.
// ready is closed once the command subscription was answered (or failed).
func (p *Publisher) connect(ctx context.Context) (c mqtt.Client, epoch uint64, lost, ready <-chan struct{}, err error) {
	p.mu.Lock()
	p.epoch++
	epoch = p.epoch
	p.mu.Unlock()

	lostCh, readyCh := make(chan struct{}), make(chan struct{})
	var once sync.Once
	will, err := p.statusPayload(ctx, false)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	o := mqtt.NewClientOptions().
		AddBroker(p.opts.Broker).
		SetClientID("rvm-"+p.opts.Serial).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(keepAlive).
		SetBinaryWill(envelope.StatusTopic(p.opts.Serial), will, 1, true).
		// Commands queued in the persistent session may arrive before
		// OnConnect subscribed; without a default handler paho would not
		// acknowledge them.
		SetDefaultPublishHandler(p.onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.log.Warn("telemetry: connection lost", "epoch", epoch, "err", err)
			once.Do(func() { close(lostCh) })
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			// paho calls this on its own goroutine: waiting here is fine.
			defer close(readyCh)
			subs := map[string]byte{envelope.CommandTopic(p.opts.Serial, "+"): 1}
			if p.opts.GatewayAcks {
				subs[envelope.AckTopic(p.opts.Serial)] = 1
			}
			t := c.SubscribeMultiple(subs, p.onMessage)
			if !t.WaitTimeout(connectTimeout) {
				p.log.Warn("telemetry: subscribe to commands and acks: no answer")
			} else if err := t.Error(); err != nil {
				p.log.Warn("telemetry: subscribe to commands and acks failed", "err", err)
			}
		})
	if p.opts.Username != "" {
		o.SetUsername(p.opts.Username).SetPassword(p.opts.Password)
	}
	if p.opts.TLS != nil {
		o.SetTLSConfig(p.opts.TLS)
	}
	mqttconn.Use(o, p.opts.Broker)
	client := mqtt.NewClient(o)
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// paho's own ConnectTimeout ends the attempt; then the half-made
		// client is closed. The clean-up holds its own variable: the
		// return below sets the result c to nil before it runs.
		p.abandoned.Go(func() { <-tok.Done(); client.Disconnect(0) })
		return nil, 0, nil, nil, ctx.Err()
	}
	c = client
	if err := tok.Error(); err != nil {
		return nil, 0, nil, nil, fmt.Errorf("telemetry: connect %s: %w", p.opts.Broker, err)
	}
	p.setClient(c, epoch)
	p.log.Info("telemetry: connected", "broker", p.opts.Broker, "epoch", epoch)
	return c, epoch, lostCh, readyCh, nil
}

func (p *Publisher) setClient(c mqtt.Client, epoch uint64) {
	p.mu.Lock()
	if p.epoch != epoch {
		p.mu.Unlock()
		return
	}
	changed := p.connected != (c != nil)
	p.client, p.connected = c, c != nil
	p.mu.Unlock()
	if c != nil {
		signal(p.upSig)
	}
	if changed && p.opts.OnLink != nil {
		p.opts.OnLink(c != nil)
	}
}

// currentClient returns the connected client, or nil.
func (p *Publisher) currentClient() mqtt.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client
}

// inflight is a publish awaiting its PUBACK.
type inflight struct {
	seq    int64
	epoch  uint64
	tok    mqtt.Token
	resend bool // of a record already sent: its PUBACK moves no mark
}

// session drains the outbox over one connection until it dies or ctx ends.
func (p *Publisher) session(ctx context.Context, c mqtt.Client, epoch uint64, lost, ready <-chan struct{}) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-sctx.Done():
		}
	}()

	window := make(chan struct{}, p.opts.Window)
	queue := make(chan inflight, p.opts.Window)
	var resends chan outbox.Record // nil without GatewayAcks: never ready
	var wg sync.WaitGroup
	wg.Go(func() { p.ackLoop(sctx, epoch, queue, window, cancel) })
	wg.Go(func() { p.statusLoop(sctx, c, ready) })
	if p.opts.GatewayAcks {
		resends = make(chan outbox.Record)
		wg.Go(func() { p.resender(sctx, resends) })
	}
	if err := p.sendLoop(sctx, c, epoch, queue, window, resends); err != nil {
		p.log.Error("telemetry: send", "err", err)
	}
	cancel()
	wg.Wait()
}

// sendLoop publishes every record from the first one still in the outbox,
// in seq order, keeping at most Window unacknowledged. A reader goroutine
// fetches the next batch while this one is being sent, so the window does
// not run dry while SQLite is busy removing acknowledged records. Between
// batches it publishes the records the resender hands it, through the
// same window.
func (p *Publisher) sendLoop(ctx context.Context, c mqtt.Client, epoch uint64, queue chan<- inflight, window chan struct{}, resends <-chan outbox.Record) error {
	rctx, cancel := context.WithCancel(ctx)
	batches := make(chan []outbox.Record, 1)
	readDone := make(chan struct{})
	var readErr error
	go func() {
		defer close(readDone)
		defer close(batches)
		readErr = p.readLoop(rctx, batches)
	}()
	defer func() {
		cancel()
		<-readDone
	}()

	send := func(r outbox.Record, resend bool) bool {
		if !resend && !p.confirmWindowOpen(ctx, r.Seq) {
			return false
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		// paho keeps the payload until the PUBACK: a fresh slice each.
		payload := EncodeEnvelope(make([]byte, 0, len(r.Body)+len(r.ID)+len(r.RvmID)+160), p.opts.Serial, r)
		tok := c.Publish(envelope.EventTopic(p.opts.Serial, r.Kind), 1, false, payload)
		p.countSent(r.Seq, resend)
		queue <- inflight{seq: r.Seq, epoch: epoch, tok: tok, resend: resend} // never blocks: window bounds it
		return true
	}
	for {
		select {
		case recs, ok := <-batches:
			if !ok {
				<-readDone
				return readErr
			}
			for _, r := range recs {
				if !send(r, false) {
					return nil
				}
			}
		case r := <-resends:
			if !send(r, true) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// confirmWindowOpen waits until seq lies within ConfirmWindow of the
// highest seq the gateway confirmed (with GatewayAcks; without, at once).
// It returns false when ctx ended first.
func (p *Publisher) confirmWindowOpen(ctx context.Context, seq int64) bool {
	if !p.opts.GatewayAcks {
		return true
	}
	for {
		p.mu.Lock()
		top := p.confirmed.Top
		p.mu.Unlock()
		if seq-top <= int64(p.opts.ConfirmWindow) {
			return true
		}
		select {
		case <-p.openSig:
		case <-ctx.Done():
			return false
		}
	}
}

// readLoop hands out the outbox in seq order, batch by batch, waiting for
// Notify (or a poll) when it has handed out everything.
func (p *Publisher) readLoop(ctx context.Context, batches chan<- []outbox.Record) error {
	var after int64
	poll := p.opts.Clock.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		recs, err := outbox.Pending(ctx, p.db, after, batchSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("telemetry: %w", err)
		}
		if len(recs) == 0 {
			select {
			case <-p.notify:
			case <-poll.C():
			case <-ctx.Done():
				return nil
			}
			continue
		}
		select {
		case batches <- recs:
		case <-ctx.Done():
			return nil
		}
		after = recs[len(recs)-1].Seq
	}
}

func (p *Publisher) countSent(seq int64, gap bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent++
	if gap {
		p.gapResent++
	}
	if seq <= p.maxSent {
		p.resent++
	} else {
		p.maxSent = seq
	}
	if p.opts.GatewayAcks && !gap { // the resender marked its own
		p.markSentLocked(seq, p.opts.Clock.Now())
	}
}

// ackLoop waits for each publish's completion in send order, frees its
// window slot at once and hands the acknowledged seq to the remover, so
// the window never waits for a disk commit. A failed publish ends the
// session: the next connection sends everything still in the outbox again.
func (p *Publisher) ackLoop(ctx context.Context, epoch uint64, queue <-chan inflight, window <-chan struct{}, fail func()) {
	for {
		var m inflight
		select {
		case m = <-queue:
		case <-ctx.Done():
			return
		}
		select {
		case <-m.tok.Done():
		case <-ctx.Done():
			return
		}
		if !p.completed(m, window) {
			fail()
			return
		}
		if m.resend {
			continue
		}
		select {
		case p.acks <- m.seq:
		case <-ctx.Done():
			return
		}
		if len(queue) == 0 {
			signal(p.ackIdle)
		}
	}
}

// completed frees m's window slot and reports whether its PUBACK arrived
// on the current connection. False means the connection can no longer be
// trusted.
func (p *Publisher) completed(m inflight, window <-chan struct{}) bool {
	<-window
	if err := m.tok.Error(); err != nil {
		p.log.Warn("telemetry: publish failed", "seq", m.seq, "epoch", m.epoch, "err", err)
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch == m.epoch
}

// remover records acknowledged seqs and the gateway's confirmations, as
// many per SQLite transaction as arrived while the previous one committed:
// the slower the disk, the bigger the batch. It is the publisher's one
// writer. When ctx ends it records what it already has.
//
// Acknowledging only moves a mark (outbox.Ack); the rows go with
// outbox.Sweep, a chunk at a time, once no acknowledgement came for
// sweepIdle: a backlog drains without paying for its deletion on the way.
// A commit that failed is tried again with the next one.
func (p *Publisher) remover(ctx context.Context) {
	seqs := make([]int64, 0, ackBatch)
	// The state an earlier run left: the marks, what is confirmed.
	if err := p.record(ctx, nil, nil); err != nil && ctx.Err() == nil {
		p.log.Error("telemetry: outbox confirmations", "err", err)
	}
	sweep := true // a mark left by an earlier run may wait too
	for {
		var idle <-chan time.Time
		if sweep || len(seqs) > 0 {
			idle = time.After(sweepIdle)
		}
		select {
		case seq := <-p.acks:
			seqs = append(seqs, seq)
			p.linger(ctx, &seqs)
		case <-p.confirms.signal:
		case <-idle:
			if len(seqs) == 0 {
				sweep = p.sweep(ctx)
				continue
			}
			// A failed commit's seqs: try again.
		case <-ctx.Done():
			p.flushAcks(seqs)
			return
		}
		ranges := p.confirms.take()
		if err := p.record(ctx, seqs, ranges); err != nil {
			p.confirms.push(ranges)
			if ctx.Err() != nil {
				p.flushAcks(seqs)
				return
			}
			p.log.Error("telemetry: ack", "err", err)
			if len(seqs) >= ackQueue {
				// The disk keeps failing: these records go out again,
				// and consumers de-duplicate.
				seqs = seqs[:0]
			}
			continue
		}
		seqs = seqs[:0]
		sweep = true
	}
}

// linger gathers more acknowledged seqs for a little while: each commit
// costs an fsync and holds the one SQLite connection the sender reads
// through. It stops early once nothing is in flight any more (the end of
// a drain): no acknowledgement is coming to wait for.
func (p *Publisher) linger(ctx context.Context, seqs *[]int64) {
	t := p.opts.Clock.NewTimer(ackLinger)
	defer t.Stop()
	for len(*seqs) < ackBatch {
		select {
		case seq := <-p.acks:
			*seqs = append(*seqs, seq)
		case <-p.ackIdle:
			if len(p.acks) == 0 {
				return
			}
		case <-t.C():
			return
		case <-ctx.Done():
			return
		}
	}
}

// flushAcks records seqs, whatever else is queued and the pending
// confirmations, on shutdown.
func (p *Publisher) flushAcks(seqs []int64) {
	for {
		select {
		case seq := <-p.acks:
			seqs = append(seqs, seq)
			continue
		default:
		}
		break
	}
	ranges := p.confirms.take()
	if len(seqs) == 0 && len(ranges) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := p.record(ctx, seqs, ranges); err != nil {
		p.log.Warn("telemetry: ack on shutdown; those records go out again", "err", err)
	}
}

// sweep deletes a chunk of sent and confirmed records in one transaction
// and reports whether more may wait.
func (p *Publisher) sweep(ctx context.Context) bool {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return false
	}
	defer tx.Rollback()
	n, err := outbox.Sweep(ctx, tx, sweepChunk)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("telemetry: sweep", "err", err)
		}
		return false
	}
	return n == sweepChunk
}

// record marks the acknowledged seqs sent and the gateway's ranges
// confirmed, in one transaction, and wakes Drain (and the resender, when
// the gateway confirmed a higher seq). Without GatewayAcks every sent
// record is confirmed with it.
func (p *Publisher) record(ctx context.Context, seqs []int64, ranges []outbox.Range) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("telemetry: ack: %w", err)
	}
	defer tx.Rollback()
	if len(seqs) > 0 {
		if err := outbox.Ack(ctx, tx, seqs...); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if len(ranges) > 0 {
		if err := outbox.Confirm(ctx, tx, ranges); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	if !p.opts.GatewayAcks {
		if err := outbox.ConfirmSent(ctx, tx); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
	}
	conf, err := outbox.Confirmations(ctx, tx)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("telemetry: ack: %w", err)
	}
	p.mu.Lock()
	p.acked += uint64(len(seqs))
	if len(seqs) > 0 {
		close(p.progress)
		p.progress = make(chan struct{})
	}
	rose := conf.Top > p.confirmed.Top
	p.confirmed = conf
	p.mu.Unlock()
	if rose {
		signal(p.topSig)
		signal(p.openSig)
	}
	return nil
}

// shutdown publishes the offline status and disconnects cleanly.
func (p *Publisher) shutdown(c mqtt.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	payload, err := p.statusPayload(ctx, false)
	if err == nil {
		t := c.Publish(envelope.StatusTopic(p.opts.Serial), 1, true, payload)
		if !t.WaitTimeout(shutdownWait) || t.Error() != nil {
			p.log.Warn("telemetry: offline status not acknowledged", "err", t.Error())
		}
	}
	c.Disconnect(250)
	p.log.Info("telemetry: disconnected")
}

// signal wakes whoever waits on ch, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
