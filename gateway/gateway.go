package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// Options configure a [Gateway]. MQTTURL, DRSURL and DB (or Store) are
// needed; zero values of the rest mean their defaults.
type Options struct {
	// MQTTURL is the broker ("tcp://127.0.0.1:1883").
	MQTTURL string
	// MQTTUser and MQTTPassword authenticate to the broker, when set.
	MQTTUser, MQTTPassword string
	// ClientID is the stable MQTT client id of this replica: the broker
	// keeps its persistent session (and the events queued for it while it
	// is away) under this id. Default "rvm-gateway-HOSTNAME".
	ClientID string
	// Group is the shared-subscription group of the replicas. Default
	// "rvm-gateway".
	Group string

	// DRSURL is the base URL the operator's paths hang off; DRSToken its
	// bearer token.
	DRSURL, DRSToken string
	// HTTPClient calls the operator. Default: 30 s timeout.
	HTTPClient *http.Client

	// DB is the DSN: a SQLite path or a postgres:// URL. Ignored when Store
	// is set.
	DB string
	// Store is an open store to use instead of DB; the Gateway does not
	// close it.
	Store *store.Store

	// APIToken, when set, is the bearer token the POS, fleet and operator
	// callers of Handler must present.
	APIToken string

	Clock  clock.Clock
	Logger *slog.Logger

	// MaxPayload is the largest event accepted, in bytes. Default 256 KiB.
	MaxPayload int
	// BatchMax bounds the events stored in one commit (and 64 MiB their
	// payloads). A batch holds what has queued up, so it is large
	// only when the gateway is behind: after an outage, where each commit
	// writes the index pages its events share once, and a bigger commit
	// shares more of them (BENCHMARKS.md). Default 32768.
	BatchMax int
	// Workers store events in parallel. Default 2 for SQLite (it has one
	// writer, but one worker decodes its batch while the other commits),
	// 4 for PostgreSQL.
	Workers int

	// PollInterval is how often the forwarder looks for due work when
	// nothing woke it. Default 250 ms.
	PollInterval time.Duration
	// Lease is how long a replica holds a machine's queue without renewing
	// it; after a crash, the machine waits this long. Default 60 s.
	Lease time.Duration
	// Concurrency bounds the machines this replica delivers at once.
	// Default 32.
	Concurrency int
	// BaseBackoff and MaxBackoff bound the per-machine wait after a
	// transient failure (doubling, jittered). Defaults 1 s and 5 min. A
	// Retry-After from the operator is honoured even when longer.
	BaseBackoff, MaxBackoff time.Duration
	// GapWait is how long an event is held back while an earlier seq of
	// its machine is missing. Default 2 s.
	GapWait time.Duration

	// FailureRetention is how long the failure report keeps an entry.
	// Default 30 days.
	FailureRetention time.Duration
	// JobInterval is how often the periodic jobs (catalogue, voucher
	// top-up, purge) check whether they are due. Default 30 s; negative
	// disables them (tests call the jobs directly).
	JobInterval time.Duration
	// CatalogFullEvery and CatalogIncrementalEvery space the catalogue
	// pulls. Defaults 24 h and 15 min.
	CatalogFullEvery, CatalogIncrementalEvery time.Duration
	// ReservationTTL is how long a till's payout may stay reserved before
	// it is cancelled. Default 15 min.
	ReservationTTL time.Duration
	// Notifier sends digital vouchers' codes to phones; nil keeps them
	// queued in the store.
	Notifier Notifier
	// ResendGap is the least time between two sends of one voucher's code.
	// Default 1 min.
	ResendGap time.Duration
	// CustomerInterval is how often accepted digital vouchers, due
	// notifications and stale reservations are looked for. Default 1 s.
	CustomerInterval time.Duration

	// VoucherLow is the voucher buffer under which a machine is topped up
	// to VoucherTarget codes. Defaults 20 and 50.
	VoucherLow, VoucherTarget int

	// AckEvery is how often, at most, each machine is told on
	// rvm/SERIAL/ack which of its events were committed (acks.go). Default
	// DefaultAckEvery; negative: no acks (a fleet whose machines run with
	// gatewayAcks false).
	AckEvery time.Duration
	// AckWithin is how long a committed event waits for its machine's
	// ack at most (to within AckEvery; sooner once the machine holds 32
	// unacknowledged seqs). Default DefaultAckWithin, at least AckEvery;
	// keep it under the machines' resendAfter (30 s), or they send again
	// what the gateway holds.
	AckWithin time.Duration
}

// Defaults.
const (
	DefaultGroup            = "rvm-gateway"
	DefaultMaxPayload       = 256 << 10
	DefaultBatchMax         = 32768
	DefaultPollInterval     = 250 * time.Millisecond
	DefaultLease            = 60 * time.Second
	DefaultConcurrency      = 32
	DefaultBaseBackoff      = time.Second
	DefaultMaxBackoff       = 5 * time.Minute
	DefaultFailureRetention = 30 * 24 * time.Hour
	DefaultJobInterval      = 30 * time.Second
)

// ErrOptions is wrapped by New's errors about its options.
var ErrOptions = errors.New("gateway: bad options")

// Gateway is the RVM cloud: it consumes the fleet's events, forwards the
// operator's share of them, and serves the POS, fleet and operator APIs.
type Gateway struct {
	// Immutable after New.
	o        Options
	st       *store.Store
	ownStore bool
	clk      clock.Clock
	log      *slog.Logger
	fwdDRS   *drs.Client // one try per call: the forwarder schedules retries itself
	drs      *drs.Client // a few quick tries: a person (the POS) is waiting
	owner    string      // this process's lease owner id
	met      *metrics
	wake     chan struct{}
	in       chan mqtt.Message
	rec      chan recordReq // deliveries to record; closed when Run ends
	pushSem  chan struct{}  // bounds the catalogue pushes to machines coming online

	health  health
	hist    states  // the machines' last recorded states
	learned learned // the fleet's signals, computed at most every learnEvery
	acks    acks    // committed seqs per machine, for the next ack

	ready     chan struct{} // closed once subscribed
	readyOnce sync.Once

	mu     sync.Mutex
	client mqtt.Client // guarded by mu; nil before Run connects
}

// New checks o, opens the store and returns a Gateway ready to Run. Its
// Handler serves at once, from the store.
func New(o Options) (*Gateway, error) {
	if o.Store == nil && o.DB == "" {
		return nil, fmt.Errorf("%w: no database", ErrOptions)
	}
	if o.DRSURL == "" {
		return nil, fmt.Errorf("%w: no operator URL", ErrOptions)
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.ClientID == "" {
		h, _ := os.Hostname()
		o.ClientID = "rvm-gateway-" + h
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.BatchMax <= 0 {
		o.BatchMax = DefaultBatchMax
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = DefaultBaseBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.BaseBackoff)
	if o.GapWait <= 0 {
		o.GapWait = 2 * time.Second
	}
	if o.FailureRetention <= 0 {
		o.FailureRetention = DefaultFailureRetention
	}
	if o.JobInterval == 0 {
		o.JobInterval = DefaultJobInterval
	}
	if o.CatalogFullEvery <= 0 {
		o.CatalogFullEvery = 24 * time.Hour
	}
	if o.CatalogIncrementalEvery <= 0 {
		o.CatalogIncrementalEvery = 15 * time.Minute
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.ResendGap <= 0 {
		o.ResendGap = time.Minute
	}
	if o.CustomerInterval <= 0 {
		o.CustomerInterval = time.Second
	}
	if o.VoucherLow <= 0 {
		o.VoucherLow = 20
	}
	if o.VoucherTarget <= o.VoucherLow {
		o.VoucherTarget = max(50, o.VoucherLow*2)
	}
	if o.AckEvery == 0 {
		o.AckEvery = DefaultAckEvery
	}
	if o.AckWithin < o.AckEvery {
		o.AckWithin = max(DefaultAckWithin, o.AckEvery)
	}
	g := &Gateway{
		o:       o,
		st:      o.Store,
		clk:     o.Clock,
		log:     o.Logger,
		owner:   o.ClientID + "/" + uuid.NewString(),
		wake:    make(chan struct{}, 1),
		pushSem: make(chan struct{}, 4),
		ready:   make(chan struct{}),
		in:      make(chan mqtt.Message, 4*o.BatchMax),
		rec:     make(chan recordReq, 1024),
	}
	if g.st == nil {
		st, err := store.Open(context.Background(), o.DB, store.WithClock(o.Clock))
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		g.st, g.ownStore = st, true
	}
	if o.Workers <= 0 {
		o.Workers = 2
		if g.st.Postgres() {
			o.Workers = 4
		}
		g.o.Workers = o.Workers
	}
	g.fwdDRS = drs.New(o.DRSURL, o.DRSToken, &drs.Options{HTTPClient: o.HTTPClient, MaxAttempts: 1, Logger: o.Logger})
	g.drs = drs.New(o.DRSURL, o.DRSToken, &drs.Options{HTTPClient: o.HTTPClient, MaxAttempts: 3,
		BaseBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Logger: o.Logger})
	g.met = newMetrics(g)
	return g, nil
}

// Store returns the gateway's store.
func (g *Gateway) Store() *store.Store { return g.st }

// Close closes the store if New opened it. Call it after Run returned.
func (g *Gateway) Close() error {
	if g.ownStore {
		return g.st.Close()
	}
	return nil
}

// Run connects to the broker and consumes, forwards and runs the periodic
// jobs until ctx is done. It returns nil on a clean stop.
func (g *Gateway) Run(ctx context.Context) error {
	if g.o.MQTTURL == "" {
		return fmt.Errorf("%w: no broker URL", ErrOptions)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		g.recorder()
	}()
	// The recorder outlives the forwarder's drains, which may still be
	// waiting for their deliveries to be recorded.
	defer func() {
		close(g.rec)
		<-recDone
	}()
	var wg sync.WaitGroup
	if g.o.AckEvery > 0 {
		// The timer runs from before the subscription, so a test's clock
		// finds it.
		t := g.clk.NewTimer(g.o.AckEvery)
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.ackLoop(ctx, t)
		}()
	}
	for i := 0; i < g.o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.consume(ctx)
		}()
	}
	c, err := g.connect(ctx)
	if err != nil {
		stopped := ctx.Err() != nil
		cancel()
		wg.Wait()
		if stopped {
			return nil // stopped while still connecting: a clean stop too
		}
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.forward(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.customers(ctx)
	}()
	if g.o.JobInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.jobs(ctx)
		}()
	}
	<-ctx.Done()
	// Disconnect first: messages not yet stored stay unacknowledged and
	// the broker hands them out again.
	c.Disconnect(250)
	wg.Wait()
	return nil
}

// Ready is closed once the gateway has subscribed to the fleet's events
// for the first time: from then on the broker keeps what it publishes for
// this replica's session.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// wakeForwarder tells the forwarder that new work arrived.
func (g *Gateway) wakeForwarder() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *Gateway) mqttClient() mqtt.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.client
}

// publish sends a command to a machine at QoS 1 and waits for the broker.
func (g *Gateway) publish(ctx context.Context, topic string, payload []byte) error {
	c := g.mqttClient()
	if c == nil {
		return errors.New("gateway: not connected to the broker")
	}
	t := c.Publish(topic, 1, false, payload)
	timeout := g.clk.NewTimer(10 * time.Second)
	defer timeout.Stop()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("gateway: publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout.C():
		return fmt.Errorf("gateway: publish %s: no acknowledgement in 10s", topic)
	}
}
