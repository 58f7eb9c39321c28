package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Products of the test catalogue: one the operator accepts, one it does not.
const (
	eanOK  = "5901234123457"
	eanBad = "5900000000017"
	token  = "drs-token"
)

func testCatalog(t testing.TB) []drsapi.Product {
	t.Helper()
	ps, err := drssim.ParseCatalog([]byte(`[
	 {"ean":"5901234123457","name":"Woda 0.5 l","deposit":{"amount":0.5,"currency":"PLN"},"collectionStatusId":1,
	  "packaging":{"packagingCode":1,"reusable":false},"weight":{"withCap":24,"min":20,"max":30}},
	 {"ean":"5900000000017","name":"Sok 1 l","deposit":{"amount":0.5,"currency":"PLN"},"collectionStatusId":2,
	  "packaging":{"packagingCode":1,"reusable":false},"weight":{"withCap":40}}]`))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// env is one test world: a real mosquitto, the operator stand-in on real
// HTTP, machines registered with it, and a publisher playing the fleet.
type env struct {
	t      *testing.T
	broker *testbroker.Broker
	sim    *drssim.Server
	simURL string
	front  *switchable // in front of sim, for injected answers
	rvm    map[string]string
	pub    mqtt.Client

	mu  sync.Mutex
	seq map[string]int64
}

// switchable lets a test answer some operator calls itself.
type switchable struct {
	next http.Handler
	mu   sync.Mutex
	hook func(w http.ResponseWriter, r *http.Request) bool // true: answered
	seen map[string]int                                    // "POST /transaction" -> n
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen[r.Method+" "+r.URL.Path]++
	hook, next := s.hook, s.next
	s.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	next.ServeHTTP(w, r)
}

func (s *switchable) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

func (s *switchable) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

func newEnv(t *testing.T, simOpts drssim.Options, serials ...string) *env {
	t.Helper()
	return newEnvOpts(t, simOpts, nil, serials...)
}

func newEnvOpts(t *testing.T, simOpts drssim.Options, brokerOpts []testbroker.Option, serials ...string) *env {
	t.Helper()
	e := newWorld(t, simOpts, brokerOpts, serials...)
	e.pub = connect(t, e.broker.URL(), "fleet-"+uuid.NewString()[:8], nil)
	return e
}

// newWorld is newEnvOpts without the fleet's publisher, for a broker that
// wants credentials.
func newWorld(t *testing.T, simOpts drssim.Options, brokerOpts []testbroker.Option, serials ...string) *env {
	t.Helper()
	e := &env{t: t, rvm: map[string]string{}, seq: map[string]int64{}}
	e.broker = testbroker.Start(t, brokerOpts...)
	simOpts.Catalog = testCatalog(t)
	simOpts.Token = token
	sim, err := drssim.New(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.sim = sim
	e.front = &switchable{next: sim, seen: map[string]int{}}
	ts := httptest.NewServer(e.front)
	t.Cleanup(ts.Close)
	e.simURL = ts.URL
	c := drs.New(ts.URL, token, &drs.Options{MaxAttempts: 20, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 2 * time.Second})
	for _, s := range serials {
		id, err := c.RegisterMachine(context.Background(), drsapi.MachineUpdate{SerialNumber: s, Bins: []drsapi.BinPost{{WasteType: []int{7}}}, DrsCpNo: "1100061-152"})
		if err != nil {
			t.Fatal(err)
		}
		e.rvm[s] = id
	}
	return e
}

func connect(t testing.TB, url, id string, onMsg mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetAutoReconnect(true).SetOrderMatters(false)
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// gatewayOptions are fast defaults for tests.
func (e *env) gatewayOptions(db string) gateway.Options {
	return gateway.Options{
		MQTTURL: e.broker.URL(), ClientID: "gw-" + uuid.NewString()[:8],
		DRSURL: e.simURL, DRSToken: token, DB: db,
		PollInterval: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		GapWait: 200 * time.Millisecond, JobInterval: -1, Logger: testLogger(),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// running is a gateway running in-process with its HTTP API.
type running struct {
	gw     *gateway.Gateway
	api    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func (e *env) startGateway(o gateway.Options) *running {
	e.t.Helper()
	if o.DB == "" && o.Store == nil {
		o.DB = filepath.Join(e.t.TempDir(), "gateway.db")
	}
	g, err := gateway.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &running{gw: g, api: httptest.NewServer(g.Handler()), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- g.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	select {
	case <-g.Ready():
	case err := <-r.done:
		e.t.Fatalf("Run() = %v before subscribing", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("gateway did not subscribe in 30 s")
	}
	return r
}

func (r *running) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run() = %v; want nil", err)
	}
	r.api.Close()
	r.gw.Close()
}

// envelopeFor builds the next envelope of serial, with a gapless seq.
func (e *env) envelopeFor(serial, kind, id string, body any) envelope.Envelope {
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.seq[serial]++
	seq := e.seq[serial]
	e.mu.Unlock()
	if id == "" {
		id = uuid.NewString()
	}
	return envelope.Envelope{V: 1, ID: id, Machine: serial, RvmID: e.rvm[serial], Seq: seq,
		TS: time.Now().UTC().Format(time.RFC3339Nano), Kind: kind, Body: b}
}

func (e *env) publishEnvelope(env envelope.Envelope) {
	e.t.Helper()
	b, _ := json.Marshal(env)
	e.publishRaw(envelope.EventTopic(env.Machine, env.Kind), b, false)
}

func (e *env) publishRaw(topic string, payload []byte, retained bool) {
	e.t.Helper()
	tok := e.pub.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		e.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// transaction returns a valid transaction of serial with n accepted
// containers of ean.
func (e *env) transaction(serial, ean string, n int, voucher *drsapi.VoucherBase) drsapi.Transaction {
	end := time.Now().UTC().Truncate(time.Second)
	return drsapi.Transaction{
		ID: uuid.NewString(), RvmID: e.rvm[serial], TotalAmount: n, TotalWeight: int64(24 * n),
		Voucher: voucher, TransactionStartTime: end.Add(-time.Minute).Format(time.RFC3339),
		TransactionEndTime: end.Format(time.RFC3339), TotalAccepted: n,
		Containers: []drsapi.Container{{EAN: ean, Count: n, Weight: int64(24 * n)}},
	}
}

// publishTx publishes a transaction event and returns its id.
func (e *env) publishTx(serial string, tx drsapi.Transaction) string {
	e.publishEnvelope(e.envelopeFor(serial, envelope.KindTransaction, tx.ID, tx))
	return tx.ID
}

// simTransactions returns the ids the operator accepted, in order.
func (e *env) simTransactions() []drsapi.Transaction {
	e.t.Helper()
	raw, err := e.sim.Transactions(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]drsapi.Transaction, 0, len(raw))
	for _, r := range raw {
		var tx drsapi.Transaction
		if err := json.Unmarshal(r, &tx); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, tx)
	}
	return out
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, it is not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call makes an API request and decodes a JSON answer into out (if not nil).
func call(t testing.TB, method, url, bearer, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func eventCount(t testing.TB, g *gateway.Gateway, state string) int {
	t.Helper()
	c, err := g.Store().EventCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c[state]
}

func serials(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("RVM-%03d", i+1)
	}
	return out
}

// newClock returns a clock whose time the test moves, set at a whole second
// of now so that times survive the store's millisecond precision; its
// timers are real, so the gateway's loops poll as in production.
func newClock() *clock.Settable { return clock.NewSettable(time.Now().Truncate(time.Second)) }
