package telemetry_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// patience bounds every wait in these tests. It is a guard against a hung
// test on a loaded machine, never an assertion about speed.
const patience = 90 * time.Second

const rvmID = "3f2b8c1e-5d4a-4e7b-9c1d-2a6f8e0b7c35"

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if err := outbox.Init(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func newDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	return openDB(t, path), path
}

// transactionBody is a realistic DRS transaction body, about 600 bytes.
func transactionBody(i int) json.RawMessage {
	start := t0.Add(time.Duration(i) * 30 * time.Second)
	tx := drsapi.Transaction{
		ID:                   uuid.NewString(),
		RvmID:                rvmID,
		TotalAmount:          9,
		TotalWeight:          212,
		Voucher:              &drsapi.VoucherBase{ID: "VC" + strconv.Itoa(100000000+i), RedeemType: drsapi.RedeemValid},
		TransactionStartTime: start.Format(time.RFC3339),
		TransactionEndTime:   start.Add(25 * time.Second).Format(time.RFC3339),
		TotalAccepted:        7,
		TotalRejected:        2,
		Containers: []drsapi.Container{
			{EAN: "5901234123457", Count: 3, Weight: 81, RejectionCauseCode: drsapi.CauseOK},
			{EAN: "5900820000219", Count: 2, Weight: 54, RejectionCauseCode: drsapi.CauseOK},
			{EAN: "4006381333931", Count: 2, Weight: 77, RejectionCauseCode: drsapi.CauseOK},
			{EAN: "5449000000996", Count: 1, Weight: 540, RejectionCauseCode: drsapi.CauseNotAccepted},
			{EAN: "", Count: 1, Weight: 24, RejectionCauseCode: drsapi.CauseBarcodeMissing},
		},
	}
	b, err := json.Marshal(tx)
	if err != nil {
		panic(err)
	}
	return b
}

// record builds the i-th test record of the given kind.
func record(i int, kind string) outbox.Record {
	r := outbox.Record{ID: uuid.NewString(), Kind: kind, TS: t0.Add(time.Duration(i) * 30 * time.Second), RvmID: rvmID}
	switch kind {
	case envelope.KindTransaction:
		r.Body = transactionBody(i)
		var tx drsapi.Transaction
		_ = json.Unmarshal(r.Body, &tx)
		r.ID = tx.ID
	case envelope.KindHeartbeat:
		r.Body, _ = json.Marshal(envelope.Heartbeat{StatusCode: 0, PowerStatus: "mains", Uptime: int64(i * 30)})
	default:
		r.Body = json.RawMessage(fmt.Sprintf(`{"bagId":"bag-%d","fill":%d}`, i/400, i%400))
	}
	return r
}

// fill appends records in a few transactions and returns them with their
// sequence numbers.
func fill(t testing.TB, db *sql.DB, recs ...outbox.Record) []outbox.Record {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < len(recs); start += 1000 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := start; i < min(start+1000, len(recs)); i++ {
			seq, err := outbox.Append(ctx, tx, recs[i])
			if err != nil {
				t.Fatal(err)
			}
			recs[i].Seq = seq
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func transactions(from, n int) []outbox.Record {
	recs := make([]outbox.Record, n)
	for i := range recs {
		recs[i] = record(from+i, envelope.KindTransaction)
	}
	return recs
}

func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func baseOptions(t testing.TB, url, serial string) telemetry.Options {
	o := telemetry.Options{
		Broker:   url,
		Serial:   serial,
		Firmware: "1.4.2",
		Logger:   quietLogger(t),
		StatusFunc: func() envelope.Status {
			return envelope.Status{RvmID: rvmID, State: "idle", BagFill: 0.25, BagCount: 100}
		},
	}
	o.Backoff.Min, o.Backoff.Max = 20*time.Millisecond, 200*time.Millisecond
	return o
}

// running is a publisher whose Run goroutine the test controls.
type running struct {
	*telemetry.Publisher
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startPublisher(t testing.TB, db *sql.DB, opts telemetry.Options) *running {
	t.Helper()
	p, err := telemetry.NewPublisher(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Publisher: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run and waits for it; stopping twice is harmless.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	r.once.Do(func() {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run() = %v; want nil", err)
			}
		case <-time.After(patience):
			t.Fatal("Run did not return after its context ended")
		}
	})
}

func drain(t testing.TB, p *running) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	start := time.Now()
	if err := p.Drain(ctx); err != nil {
		t.Fatalf("Drain() = %v; want nil (stats %+v)", err, p.Stats())
	}
	return time.Since(start)
}

// message is one message a subscriber received.
type message struct {
	topic   string
	payload []byte
	retain  bool
}

// collector records everything a subscription receives, in order.
type collector struct {
	t       testing.TB
	client  mqtt.Client
	mu      sync.Mutex
	msgs    []message
	ids     map[string]bool // distinct event ids, parsed once per message
	subacks int
	changed chan struct{}
}

type subOpts struct {
	user, pass string
	clientID   string // fixed for a persistent session; "" for a clean one
}

// subscribe connects a subscriber to filter. With a client id its session
// is persistent, so messages published while it is away are kept for it.
func subscribe(t testing.TB, url, filter string, so subOpts) *collector {
	t.Helper()
	c := &collector{t: t, changed: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(url).SetAutoReconnect(true).
		SetMaxReconnectInterval(100 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetConnectTimeout(5 * time.Second)
	if so.clientID != "" {
		o.SetClientID(so.clientID).SetCleanSession(false)
	} else {
		o.SetClientID("sub-" + uuid.NewString()[:8])
	}
	if so.user != "" {
		o.SetUsername(so.user).SetPassword(so.pass)
	}
	o.SetDefaultPublishHandler(c.handle)
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		tok := cl.Subscribe(filter, 1, c.handle)
		if tok.WaitTimeout(patience) && tok.Error() == nil {
			c.mu.Lock()
			c.subacks++
			c.mu.Unlock()
			c.notify()
		}
	})
	c.client = mqtt.NewClient(o)
	if tok := c.client.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.client.Disconnect(0) })
	c.waitFor("the subscription", func() bool { return c.subacks > 0 })
	return c
}

func (c *collector) handle(_ mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, message{topic: m.Topic(), payload: m.Payload(), retain: m.Retained()})
	if strings.Contains(m.Topic(), "/evt/") {
		var e envelope.Envelope
		if json.Unmarshal(m.Payload(), &e) == nil {
			if c.ids == nil {
				c.ids = map[string]bool{}
			}
			c.ids[e.ID] = true
		}
	}
	c.mu.Unlock()
	c.notify()
}

func (c *collector) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until cond (called with c.mu held) holds.
func (c *collector) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-deadline.C:
			c.t.Fatalf("subscriber: no %s after %v", what, patience)
		}
	}
}

func (c *collector) messages() []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]message(nil), c.msgs...)
}

// distinctIDs counts the distinct event ids received; call with c.mu held.
// distinctIDs counts distinct event ids; call with c.mu held. Each message
// is parsed once, when it arrives: re-parsing all of them at every arrival
// made waiting quadratic and timed out under the race detector.
func (c *collector) distinctIDs() int { return len(c.ids) }

func (c *collector) waitEvents(n int) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%d distinct events", n), func() bool { return c.distinctIDs() >= n })
}

// lastStatus is the newest status message; call with c.mu held.
func (c *collector) lastStatus() (envelope.Status, bool) {
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if strings.HasSuffix(c.msgs[i].topic, "/status") {
			var st envelope.Status
			if json.Unmarshal(c.msgs[i].payload, &st) == nil {
				return st, true
			}
		}
	}
	return envelope.Status{}, false
}

// checkDelivery is the consumer's view: de-duplicated on id, the events
// must be exactly want, in seq order, each byte-for-byte the envelope of
// its record; a repeat must carry the same id and the same bytes.
func checkDelivery(t testing.TB, msgs []message, serial string, want []outbox.Record) (repeats int) {
	t.Helper()
	first := map[string][]byte{}
	seqID := map[int64]string{}
	var order []envelope.Envelope
	for _, m := range msgs {
		if !strings.Contains(m.topic, "/evt/") {
			continue
		}
		var e envelope.Envelope
		if err := json.Unmarshal(m.payload, &e); err != nil {
			t.Fatalf("event on %s: %v: %s", m.topic, err, m.payload)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("event on %s: Validate() = %v", m.topic, err)
		}
		if m.topic != envelope.EventTopic(serial, e.Kind) {
			t.Errorf("event seq %d on topic %q; want %q", e.Seq, m.topic, envelope.EventTopic(serial, e.Kind))
		}
		if id, ok := seqID[e.Seq]; ok && id != e.ID {
			t.Errorf("seq %d arrived with ids %q and %q; a repeat must keep its id", e.Seq, id, e.ID)
		}
		seqID[e.Seq] = e.ID
		if prev, ok := first[e.ID]; ok {
			repeats++
			if string(prev) != string(m.payload) {
				t.Errorf("repeat of %s differs:\n%s\n%s", e.ID, prev, m.payload)
			}
			continue
		}
		first[e.ID] = m.payload
		order = append(order, e)
	}
	if len(order) != len(want) {
		t.Errorf("distinct events = %d; want %d", len(order), len(want))
	}
	for i := range min(len(order), len(want)) {
		got, w := order[i], want[i]
		if got.Seq != w.Seq || got.ID != w.ID {
			t.Fatalf("event %d = seq %d id %s; want seq %d id %s (order or gap)", i, got.Seq, got.ID, w.Seq, w.ID)
		}
		ts, err := time.Parse(time.RFC3339Nano, got.TS)
		if got.Machine != serial || got.RvmID != w.RvmID || got.Kind != w.Kind || err != nil || !ts.Equal(w.TS) ||
			got.V != envelope.Version || string(got.Body) != string(compact(w.Body)) {
			t.Fatalf("event seq %d = %+v; want the record %+v", got.Seq, got, w)
		}
	}
	return repeats
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// adminPublish publishes one message and waits for its PUBACK.
func adminPublish(t testing.TB, url, user, pass, topic string, retained bool, payload []byte) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("pub-" + uuid.NewString()[:8])
	if user != "" {
		o.SetUsername(user).SetPassword(pass)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// proxy is a TCP relay the test can cut, like a network outage between
// the machine and the broker.
type proxy struct {
	t       testing.TB
	l       net.Listener
	target  string
	mu      sync.Mutex
	up      bool
	stalled bool // machine-to-broker bytes are swallowed
	conns   map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, l: l, target: target, up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { l.Close(); p.setUp(false) })
	go p.serve()
	return p
}

func (p *proxy) url() string { return "tcp://" + p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(b, c, true)
		go p.pipe(c, b, false)
	}
}

func (p *proxy) pipe(dst, src net.Conn, upstream bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		swallow := upstream && p.stalled
		p.mu.Unlock()
		if swallow {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// stall swallows whatever the machine sends on its current connections:
// its publishes leave the machine but never reach the broker, so no PUBACK
// comes back. A stalled connection is never healed, only cut.
func (p *proxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// setUp(false) cuts every relayed connection and refuses new ones.
func (p *proxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	p.stalled = false
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}
