// Command fleet-bench drives a simulated fleet through mosquitto and the
// gateway into the operator stand-in, and prints one JSON line of results.
//
//	fleet-bench [-machines 1000] [-conns 20] [-rate 2000] [-duration 20s]
//	            [-tx-share 0.012] [-heartbeat 60s] [-flood 40000]
//	            [-mqtt URL] [-drs URL -drs-token T] [-db DSN]
//
// Phase one publishes at -rate events a second for -duration: container
// events, transactions (-tx-share of them) and a heartbeat from each
// machine every -heartbeat, every machine with a gapless seq. It reports
// the operator's receipt latency of the transactions (publish to POST
// /transaction), p50 and p99. Phase two floods -flood events as fast as the
// publishers go and reports the gateway's sustained storing rate and
// mosquitto_sub's raw consumption rate of the same stream, measured in the
// same run. Without -mqtt it starts its own mosquitto on a free loopback
// port; without -drs it serves drs-sim in-process; without -db it uses a
// SQLite file in a temporary directory.
//
// -peak replaces both phases with the peak of a 10,000-machine fleet
// (-peak-tx 240 transactions and -peak-containers 20,000 containers a
// second, for -duration 60s): every machine publishes what rvmd's publisher
// publishes (telemetry.EncodeEnvelope of the outbox records), its containers
// in batches of -batch-max or -batch-every, whichever first, its session's
// last batch before its transaction, which names a paper voucher that a
// "voucher" event follows, as the ledger writes them. The line adds
// containersPerS (the containers in the gateway's store over the time they
// took to get there) and liveLagP99Ms (a batch's publish to its containers
// in GET /api/machines/{serial}, on -lag-machines machines polled). Before the
// peak the fleet connects as rvmd does, every machine publishing its
// retained status (warmupS: the gateway's first sight of each), and every
// machine listens to the gateway's confirmations on rvm/SERIAL/ack.
// -outage D fills the outboxes as D at the peak would (backlogEvents,
// backlogBytes, backlogFillS), then releases them at once with the
// reconnects spread over -jitter, each machine keeping to rvmd's confirm
// window, and reports backlogToOperatorS from the release; every 10 s of
// the release a line on stderr says what was published, stored and
// delivered so far.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for -db postgres://

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/internal/mqttconn"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

const benchEAN = "5901234123457"

// benchProduct is one product of the bench's catalogue: what a container of
// it weighs and the deposit it carries.
type benchProduct struct {
	ean, name string
	weightMg  int64
	deposit   drsapi.Deposit
}

// products is the bench's catalogue: a shop's return stream of PET
// bottles, cans and glass, so that batches carry a mix of EANs as a
// machine's do. benchEAN is the first.
var products = []benchProduct{
	{benchEAN, "Woda 0.5 l", 24000, drsapi.Deposit{Amount: 50, Currency: "PLN"}},
	{"5449000000996", "Cola 1.5 l", 38000, drsapi.Deposit{Amount: 50, Currency: "PLN"}},
	{"5900990000019", "Piwo puszka 0.5 l", 15000, drsapi.Deposit{Amount: 50, Currency: "PLN"}},
	{"5902424000022", "Sok 1 l", 31000, drsapi.Deposit{Amount: 50, Currency: "PLN"}},
	{"5901551000035", "Piwo 0.5 l szklo", 360000, drsapi.Deposit{Amount: 100, Currency: "PLN"}},
	{"5907387000041", "Woda 1.5 l", 33000, drsapi.Deposit{Amount: 50, Currency: "PLN"}},
}

// Result is the bench's JSON line.
type Result struct {
	Machines        int     `json:"machines"`
	Conns           int     `json:"conns"`
	DB              string  `json:"db"`
	TargetRate      float64 `json:"targetRateEps"`
	AchievedRate    float64 `json:"achievedPublishRateEps"`
	DurationS       float64 `json:"durationS"`
	Published       int64   `json:"published"`
	Transactions    int64   `json:"transactions"`
	Delivered       int     `json:"transactionsAtOperator"`
	OperatorPosts   int64   `json:"operatorTransactionPosts"`
	P50ms           float64 `json:"p50Ms"`
	P99ms           float64 `json:"p99Ms"`
	MaxMs           float64 `json:"maxMs"`
	DrainS          float64 `json:"drainAfterPublishS"`
	FloodEvents     int64   `json:"floodEvents"`
	FloodPublishEps float64 `json:"floodPublishRateEps"`
	GatewayMaxEps   float64 `json:"gatewaySustainedStoreRateEps"`
	MosqSubEps      float64 `json:"mosquittoSubRateEps"`
	MosqSubLines    int64   `json:"mosquittoSubLines"`
	Quarantined     float64 `json:"quarantined"`
	Duplicates      float64 `json:"duplicatesAtGateway"`

	// -peak only.
	ContainersPublished int64   `json:"containersPublished,omitempty"`
	Batches             int64   `json:"containerBatches,omitempty"`
	ContainersPerS      float64 `json:"containersPerS"`
	LiveLagP99Ms        float64 `json:"liveLagP99Ms"`
	LiveLagSamples      int     `json:"liveLagSamples,omitempty"`
	// -outage only.
	BacklogEvents      int64   `json:"backlogEvents,omitempty"`
	BacklogBytes       int64   `json:"backlogBytes,omitempty"` // of the envelopes
	BacklogFillS       float64 `json:"backlogFillS,omitempty"` // filling the outboxes, before the release
	BacklogToOperatorS float64 `json:"backlogToOperatorS,omitempty"`
	// BacklogStoredS is when, from the release, the gateway had stored the
	// backlog's last container: what came after it was the forwarder's.
	BacklogStoredS float64 `json:"backlogStoredS,omitempty"`
	// FleetConnectionsLost counts the simulated fleet's connections lost
	// (and made again) during the run.
	FleetConnectionsLost int64 `json:"fleetConnectionsLost,omitempty"`
	// Republished counts -peak's records published again because paho
	// failed their first publish (see unsettled in peak.go).
	Republished int64 `json:"republished,omitempty"`
	// WarmupS is how long the gateway took to take in the whole fleet's
	// first statuses before -peak began (its first sight of every machine).
	WarmupS float64 `json:"warmupS,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	machines := flag.Int("machines", 1000, "simulated machines")
	conns := flag.Int("conns", 20, "MQTT connections the machines are multiplexed over")
	rate := flag.Float64("rate", 2000, "events a second in phase one, all machines together")
	duration := flag.Duration("duration", 20*time.Second, "length of phase one")
	txShare := flag.Float64("tx-share", 0.012, "fraction of phase one's events that are transactions (the rest are container events)")
	heartbeat := flag.Duration("heartbeat", time.Minute, "heartbeat period of each machine")
	flood := flag.Int64("flood", 40000, "events of phase two, published as fast as possible (0 skips it)")
	mqttURL := flag.String("mqtt", "", "broker URL (default: start mosquitto on a free loopback port)")
	drsURL := flag.String("drs", "", "operator URL (default: drs-sim in-process)")
	drsToken := flag.String("drs-token", "bench", "operator token")
	concurrency := flag.Int("concurrency", 64, "machines the gateway delivers to the operator at once (gateway.Options.Concurrency)")
	drsDB := flag.String("drs-db", "", "SQLite file of the in-process drs-sim (default: in memory)")
	dsn := flag.String("db", "", "gateway database (default: SQLite in a temporary directory)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	verbose := flag.Bool("v", false, "log the gateway to stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	tailProfile := flag.String("tail-profile", "", "with -outage: write a CPU profile of the release's tail (backlog stored to its last transaction at the operator) to this file")
	peakMode := flag.Bool("peak", false, "the fleet's peak: -machines 10000 publishing as rvmd does (batches included), -peak-tx transactions and -peak-containers containers a second for -duration")
	peakTx := flag.Float64("peak-tx", 240, "transactions a second at -peak, the whole fleet")
	peakContainers := flag.Float64("peak-containers", 20000, "containers a second at -peak, the whole fleet")
	batchMax := flag.Int("batch-max", config.Default().ContainerBatchMax, "containers a batch at -peak (containerBatchMax)")
	batchEvery := flag.Duration("batch-every", 5*time.Second, "age of a batch at -peak (containerBatchInterval)")
	lagMachines := flag.Int("lag-machines", 20, "machines whose fleet API view is polled for the live lag at -peak")
	outage := flag.Duration("outage", 0, "with -peak: fill the outboxes as an outage this long would, then release them at once")
	batchRows := flag.Int("gw-batch", 0, "events the gateway stores in one commit at most (gateway.Options.BatchMax; 0: its default)")
	jitter := flag.Duration("jitter", 4*time.Second, "with -outage: the machines' reconnects spread over this")
	flag.Parse()
	if *peakMode {
		if !isSet("machines") {
			*machines = 10000
		}
		if !isSet("conns") {
			*conns = 50
		}
		if !isSet("duration") {
			*duration = time.Minute
		}
		if !isSet("timeout") {
			*timeout = 30 * time.Minute
		}
		*flood = 0
	}
	if *cpuProfile != "" && *tailProfile != "" {
		return errors.New("-cpuprofile and -tail-profile: one CPU profile at a time")
	}
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *machines < 1 || *conns < 1 || *rate <= 0 || *txShare < 0 || *txShare > 1 {
		return errors.New("bad flags")
	}
	*conns = min(*conns, *machines)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "fleet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	broker := *mqttURL
	if broker == "" {
		stopBroker, url, err := startMosquitto(dir)
		if err != nil {
			return err
		}
		defer stopBroker()
		broker = url
	}

	// The operator, with a wiretap recording when each transaction arrived.
	tap := &tap{first: map[string]time.Time{}}
	operator := *drsURL
	if operator == "" {
		accept := drsapi.StatusAccept
		var ps []drsapi.Product
		for _, p := range products {
			ps = append(ps, drsapi.Product{EAN: p.ean, Name: p.name, Deposit: &p.deposit, CollectionStatusID: &accept})
		}
		// In memory by default: the operator's own disk is not what the
		// bench measures.
		sim, err := drssim.New(drssim.Options{Catalog: ps, Token: *drsToken, DB: *drsDB})
		if err != nil {
			return err
		}
		defer sim.Close()
		tap.next = sim
		ts := httptest.NewServer(tap)
		defer ts.Close()
		operator = ts.URL
	}
	serials := make([]string, *machines)
	rvm := make([]string, *machines)
	dc := drs.New(operator, *drsToken, nil)
	// Registered a few at a time: 10,000 one by one take a while.
	regErr := make([]error, len(serials))
	var rwg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range serials {
		serials[i] = fmt.Sprintf("BENCH-%05d", i+1)
		sem <- struct{}{}
		rwg.Go(func() {
			defer func() { <-sem }()
			rvm[i], regErr[i] = dc.RegisterMachine(ctx, drsapi.MachineUpdate{SerialNumber: serials[i], Bins: []drsapi.BinPost{{WasteType: []int{drsapi.WastePET}}}, DrsCpNo: "1100061-152"})
		})
	}
	rwg.Wait()
	for i, err := range regErr {
		if err != nil {
			return fmt.Errorf("register %s: %w", serials[i], err)
		}
	}

	db := *dsn
	if db == "" {
		db = filepath.Join(dir, "gateway.db")
	}
	if dbKind(db) == "postgres" {
		// A schema of its own: rows left by an earlier run would be
		// delivered again and skew the counts.
		fresh, drop, err := freshSchema(db)
		if err != nil {
			return err
		}
		defer drop()
		db = fresh
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	g, err := gateway.New(gateway.Options{
		MQTTURL: broker, ClientID: "bench-gw-" + uuid.NewString()[:8], DRSURL: operator, DRSToken: *drsToken, DB: db,
		PollInterval: 50 * time.Millisecond, Concurrency: *concurrency, BatchMax: *batchRows, JobInterval: -1, Logger: log,
	})
	if err != nil {
		return err
	}
	defer g.Close()
	gctx, gcancel := context.WithCancel(ctx)
	gdone := make(chan error, 1)
	go func() { gdone <- g.Run(gctx) }()
	defer func() {
		gcancel()
		<-gdone
	}()
	select {
	case <-g.Ready():
	case err := <-gdone:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	// mosquitto_sub reads the same stream beside the gateway, for its rate;
	// not after an outage, where it would double the broker's fan-out of
	// gigabytes and pipe them all through the bench for a figure the
	// backlog does not need.
	var sub *sub
	if !*peakMode || *outage == 0 {
		if sub, err = startSub(ctx, broker); err != nil {
			return err
		}
		defer sub.stop()
	}

	fleet, err := newFleet(broker, serials, rvm, *conns)
	if err != nil {
		return err
	}
	defer fleet.close()

	res := Result{Machines: *machines, Conns: *conns, DB: dbKind(db), TargetRate: *rate, DurationS: duration.Seconds()}
	if *peakMode {
		res.TargetRate = *peakTx + *peakContainers
		o := peakOptions{txRate: *peakTx, containerRate: *peakContainers, duration: *duration, batchMax: *batchMax,
			batchEvery: *batchEvery, heartbeat: *heartbeat, lagMachines: *lagMachines, outage: *outage, jitter: *jitter, tailProfile: *tailProfile}
		if err := runPeak(ctx, o, fleet, g, tap, &res); err != nil {
			return err
		}
		if sub != nil {
			// mosquitto_sub beside the gateway, in the same run: what it
			// read of the same stream over the same span.
			res.MosqSubLines = sub.lines.Load()
			res.MosqSubEps = round1(float64(res.MosqSubLines) / (res.DurationS + res.DrainS))
		}
		res.OperatorPosts = tap.posts.Load()
		res.FleetConnectionsLost = fleet.lost.Load()
		m := g.Metrics()
		res.Quarantined, res.Duplicates = m.Quarantined, m.Duplicates
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	// Phase one: paced.
	start := time.Now()
	pubs, txs := fleet.paced(ctx, *rate, *duration, *txShare, *heartbeat)
	elapsed := time.Since(start)
	res.Published, res.Transactions = pubs, int64(len(txs))
	res.AchievedRate = float64(pubs) / elapsed.Seconds()
	if err := waitUntil(ctx, func() bool { return tap.count(txs) == len(txs) }); err != nil {
		return fmt.Errorf("waiting for the operator to receive %d transactions (has %d): %w", len(txs), tap.count(txs), err)
	}
	res.DrainS = time.Since(start.Add(elapsed)).Seconds()
	var lat []float64
	for id, at := range txs {
		lat = append(lat, float64(tap.at(id).Sub(at).Microseconds())/1000)
	}
	slices.Sort(lat)
	res.Delivered = tap.count(txs)
	res.P50ms, res.P99ms, res.MaxMs = quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1]

	// Phase two: flood.
	if *flood > 0 {
		before := stored(g)
		subBefore := sub.lines.Load()
		fstart := time.Now()
		n, ftxs := fleet.flood(ctx, *flood)
		res.FloodEvents = n
		res.FloodPublishEps = float64(n) / time.Since(fstart).Seconds()
		if err := waitUntil(ctx, func() bool { return stored(g)-before >= float64(n) }); err != nil {
			return fmt.Errorf("waiting for the gateway to store the flood: %w", err)
		}
		res.GatewayMaxEps = float64(n) / time.Since(fstart).Seconds()
		if err := waitUntil(ctx, func() bool { return sub.lines.Load()-subBefore >= n }); err == nil {
			res.MosqSubEps = float64(n) / sub.lastAt().Sub(fstart).Seconds()
		}
		res.MosqSubLines = sub.lines.Load() - subBefore
		_ = waitUntil(ctx, func() bool { return tap.count(ftxs) == len(ftxs) })
		res.Transactions += int64(len(ftxs))
		res.Delivered += tap.count(ftxs)
	}
	res.OperatorPosts = tap.posts.Load()
	m := g.Metrics()
	res.Quarantined, res.Duplicates = m.Quarantined, m.Duplicates
	return json.NewEncoder(os.Stdout).Encode(res)
}

func dbKind(dsn string) string {
	if len(dsn) > 8 && dsn[:8] == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// freshSchema creates an empty schema in the database dsn names and
// returns a DSN using it, and a function that drops it.
func freshSchema(dsn string) (string, func(), error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	schema := "bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}, nil
}

func stored(g *gateway.Gateway) float64 {
	var n float64
	for _, v := range g.Metrics().Consumed {
		n += v
	}
	return n
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// waitUntil polls cond every 50 ms: the conditions count over every
// transaction of the run, and the bench shares the CPU with the gateway it
// measures (the latencies come from the tap, not from this poll).
func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// tap records when the operator first received each transaction.
type tap struct {
	next  http.Handler
	posts atomic.Int64
	mu    sync.Mutex
	first map[string]time.Time
	// wanted holds the transactions registered with want; arrived counts
	// those of them the operator has received, so that waiting for an
	// hour's backlog (864,000) does not count the map over and over.
	wanted  map[string]bool
	arrived int
}

// want registers transaction id as expected at the operator (see arrivals).
func (t *tap) want(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.wanted == nil {
		t.wanted = map[string]bool{}
	}
	if t.wanted[id] {
		return
	}
	t.wanted[id] = true
	if _, ok := t.first[id]; ok {
		t.arrived++
	}
}

// arrivals counts the wanted transactions the operator has received.
func (t *tap) arrivals() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.arrived
}

func (t *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/transaction" {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var tx struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &tx)
		t.posts.Add(1)
		t.mu.Lock()
		if _, ok := t.first[tx.ID]; !ok {
			t.first[tx.ID] = now
			if t.wanted[tx.ID] {
				t.arrived++
			}
		}
		t.mu.Unlock()
	}
	t.next.ServeHTTP(w, r)
}

func (t *tap) count(ids map[string]time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id := range ids {
		if _, ok := t.first[id]; ok {
			n++
		}
	}
	return n
}

func (t *tap) at(id string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first[id]
}

// fleet publishes for the machines over a few connections.
type fleet struct {
	serials, rvm []string
	seq          []atomic.Int64
	clients      []mqtt.Client
	// inbox handles every message the connections receive (the acks):
	// one handler for all machines of a connection, where a handler per
	// machine's topic would have paho match each message against hundreds
	// of routes, work a machine with its one subscription never does.
	inbox atomic.Pointer[mqtt.MessageHandler]
	// subs are each connection's subscriptions (listenAcks), made again
	// when it reconnects, as rvmd's publisher does; lost counts the
	// connections lost. A connection that stalls under an outage's release
	// (a write blocked beyond the write timeout) comes back, and its
	// persistent session keeps what the broker queued for it meanwhile.
	subsMu sync.Mutex
	subs   []map[string]byte
	lost   atomic.Int64
}

func newFleet(broker string, serials, rvm []string, conns int) (*fleet, error) {
	f := &fleet{serials: serials, rvm: rvm, seq: make([]atomic.Int64, len(serials)), subs: make([]map[string]byte, conns)}
	// The sessions are persistent: ids of this run's own, so that a broker
	// given with -mqtt hands no session of an earlier run (its queued acks)
	// to this one.
	run := uuid.NewString()[:8]
	for i := 0; i < conns; i++ {
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-fleet-" + run + "-" + strconv.Itoa(i)).
			SetCleanSession(false).SetOrderMatters(false).SetMaxResumePubInFlight(1000).SetWriteTimeout(10 * time.Second).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) {
				f.lost.Add(1)
				fmt.Fprintf(os.Stderr, "fleet-bench: fleet connection %d lost: %v\n", i, err)
			}).
			SetOnConnectHandler(func(c mqtt.Client) {
				f.subsMu.Lock()
				topics := f.subs[i]
				f.subsMu.Unlock()
				if len(topics) > 0 {
					c.SubscribeMultiple(topics, nil) // the acks go to the default handler, f.inbox
				}
			}).
			SetDefaultPublishHandler(func(c mqtt.Client, m mqtt.Message) {
				if h := f.inbox.Load(); h != nil {
					(*h)(c, m)
				}
			})
		// Read as the machines' publisher reads (internal/mqttconn).
		c := mqtt.NewClient(mqttconn.Use(o, broker))
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("connect fleet %d: %v", i, t.Error())
		}
		f.clients = append(f.clients, c)
	}
	return f, nil
}

func (f *fleet) close() {
	for _, c := range f.clients {
		c.Disconnect(100)
	}
}

// publish sends one event of machine i on its connection. Events of one
// machine are published by one goroutine, so seq order is publish order.
func (f *fleet) publish(i int, kind, id string, body any) (mqtt.Token, time.Time) {
	b, _ := json.Marshal(body)
	now := time.Now()
	env := envelope.Envelope{V: 1, ID: id, Machine: f.serials[i], RvmID: f.rvm[i], Seq: f.seq[i].Add(1),
		TS: now.UTC().Format(time.RFC3339Nano), Kind: kind, Body: b}
	p, _ := json.Marshal(env)
	return f.clients[i%len(f.clients)].Publish(envelope.EventTopic(f.serials[i], kind), 1, false, p), now
}

func (f *fleet) transaction(i int) drsapi.Transaction {
	end := time.Now().UTC().Truncate(time.Second)
	n := 1 + rand.IntN(12)
	return drsapi.Transaction{
		ID: uuid.NewString(), RvmID: f.rvm[i], TotalAmount: n, TotalWeight: int64(24 * n),
		TransactionStartTime: end.Add(-time.Minute).Format(time.RFC3339), TransactionEndTime: end.Format(time.RFC3339),
		TotalAccepted: n, Containers: []drsapi.Container{{EAN: benchEAN, Count: n, Weight: int64(24 * n)}},
	}
}

// event publishes the next event of machine i: a transaction with
// probability txShare, else a container.
func (f *fleet) event(i int, txShare float64, txs map[string]time.Time, mu *sync.Mutex) mqtt.Token {
	if rand.Float64() < txShare {
		tx := f.transaction(i)
		t, at := f.publish(i, envelope.KindTransaction, tx.ID, tx)
		mu.Lock()
		txs[tx.ID] = at
		mu.Unlock()
		return t
	}
	t, _ := f.publish(i, envelope.KindContainer, uuid.NewString(), envelope.ContainerEvent{
		TransactionID: uuid.NewString(), EAN: benchEAN, WeightMg: 24000, DepositGrosze: 50})
	return t
}

// paced publishes at rate events a second for d, one goroutine per
// connection, each owning the machines of its connection.
func (f *fleet) paced(ctx context.Context, rate float64, d time.Duration, txShare float64, heartbeat time.Duration) (int64, map[string]time.Time) {
	txs := map[string]time.Time{}
	var mu sync.Mutex
	var published atomic.Int64
	var wg sync.WaitGroup
	conns := len(f.clients)
	perConn := rate / float64(conns)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for i := c; i < len(f.serials); i += conns {
				mine = append(mine, i)
			}
			start := time.Now()
			nextBeat := make([]time.Time, len(mine))
			for k := range nextBeat {
				nextBeat[k] = start.Add(time.Duration(rand.Int64N(int64(heartbeat))))
			}
			var sent int64
			var last mqtt.Token
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for now := range tick.C {
				if ctx.Err() != nil || now.Sub(start) >= d {
					break
				}
				due := int64(perConn*now.Sub(start).Seconds()) - sent
				for ; due > 0; due-- {
					i := mine[rand.IntN(len(mine))]
					last = f.event(i, txShare, txs, &mu)
					sent++
				}
				for k, at := range nextBeat {
					if now.After(at) {
						last, _ = f.publish(mine[k], envelope.KindHeartbeat, uuid.NewString(), envelope.Heartbeat{PowerStatus: "on", Uptime: int64(now.Sub(start).Seconds())})
						nextBeat[k] = at.Add(heartbeat)
						published.Add(1)
					}
				}
			}
			if last != nil {
				last.WaitTimeout(30 * time.Second)
			}
			published.Add(sent)
		}()
	}
	wg.Wait()
	return published.Load(), txs
}

// flood publishes n events as fast as the connections take them, with the
// same transaction share as a busy fleet.
func (f *fleet) flood(ctx context.Context, n int64) (int64, map[string]time.Time) {
	txs := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	conns := len(f.clients)
	var sent atomic.Int64
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for i := c; i < len(f.serials); i += conns {
				mine = append(mine, i)
			}
			var pending []mqtt.Token
			for ctx.Err() == nil && sent.Add(1) <= n {
				pending = append(pending, f.event(mine[rand.IntN(len(mine))], 0.012, txs, &mu))
				if len(pending) >= 500 {
					// Bound what is in flight, so the flood measures the
					// pipeline and not paho's memory.
					for _, t := range pending {
						t.WaitTimeout(30 * time.Second)
					}
					pending = pending[:0]
				}
			}
			for _, t := range pending {
				t.WaitTimeout(30 * time.Second)
			}
		}()
	}
	wg.Wait()
	return min(sent.Load(), n), txs
}

// sub counts what mosquitto_sub receives of the same stream.
type sub struct {
	cmd   *exec.Cmd
	lines atomic.Int64
	mu    sync.Mutex
	last  time.Time
}

func (s *sub) lastAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func startSub(ctx context.Context, broker string) (*sub, error) {
	host, port, err := hostPort(broker)
	if err != nil {
		return nil, err
	}
	s := &sub{}
	s.cmd = exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-t", "rvm/+/evt/#", "-q", "1", "-i", "bench-sub-"+uuid.NewString()[:8])
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("mosquitto_sub: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.lines.Add(1)
			now := time.Now()
			s.mu.Lock()
			s.last = now
			s.mu.Unlock()
		}
	}()
	// mosquitto_sub subscribes right after connecting; give it the moment.
	time.Sleep(300 * time.Millisecond)
	return s, nil
}

func (s *sub) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func hostPort(url string) (string, string, error) {
	for _, p := range []string{"tcp://", "mqtt://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return net.SplitHostPort(url[len(p):])
		}
	}
	return "", "", fmt.Errorf("broker URL %q: want tcp://HOST:PORT", url)
}

// startMosquitto runs a private mosquitto on a free loopback port, with no
// inflight or queue limits (the defaults, 20 and 1000, would throttle or
// drop the bench's stream).
func startMosquitto(dir string) (func(), string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n", port)
	if os.Geteuid() == 0 {
		conf = "user root\n" + conf
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, "", err
	}
	bin := "/usr/sbin/mosquitto"
	if p, err := exec.LookPath("mosquitto"); err == nil {
		bin = p
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stderr = os.Stderr
	// A bench killed (or killed by the kernel for its memory) takes its
	// broker with it: an orphaned one held 2 GB of an hour's backlog.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("mosquitto: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			stop()
			return nil, "", fmt.Errorf("mosquitto not listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stop, "tcp://" + addr, nil
}

// isSet reports whether the command line set flag name.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// profileCPU starts a CPU profile written to path; stop ends it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
