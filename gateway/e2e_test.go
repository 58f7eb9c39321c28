package gateway_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// Every transaction reaches the operator once, in each machine's seq
// order, with duplicates and non-operator events mixed in.
func TestEveryTransactionOnceInOrder(t *testing.T) {
	machines := serials(3)
	e := newEnv(t, drssim.Options{}, machines...)
	r := e.startGateway(e.gatewayOptions(""))
	want := map[string][]string{} // rvmId -> tx ids in seq order
	dups := 0
	for i := 0; i < 15; i++ {
		for _, m := range machines {
			e.publishEnvelope(e.envelopeFor(m, envelope.KindContainer, "", envelope.ContainerEvent{EAN: eanOK, DepositGrosze: 50}))
			tx := e.transaction(m, eanOK, 1+i%3, nil)
			env := e.envelopeFor(m, envelope.KindTransaction, tx.ID, tx)
			e.publishEnvelope(env)
			if i%4 == 0 {
				e.publishEnvelope(env) // the machine's outbox sends it again
				dups++
			}
			want[e.rvm[m]] = append(want[e.rvm[m]], tx.ID)
			e.publishEnvelope(e.envelopeFor(m, envelope.KindHeartbeat, "", envelope.Heartbeat{PowerStatus: "on"}))
		}
	}
	waitFor(t, "45 transactions delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 45 })
	got := map[string][]string{}
	seen := map[string]int{}
	for _, tx := range e.simTransactions() {
		got[tx.RvmID] = append(got[tx.RvmID], tx.ID)
		seen[tx.ID]++
	}
	for rvm, ids := range want {
		if strings.Join(got[rvm], ",") != strings.Join(ids, ",") {
			t.Errorf("operator's transactions of %s = %v; want %v", rvm, got[rvm], ids)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("transaction %s accepted %d times; want 1", id, n)
		}
	}
	if n := e.front.count("POST /transaction"); n != 45 {
		t.Errorf("POST /transaction calls = %d; want 45 (no second delivery)", n)
	}
	m := r.gw.Metrics()
	if m.Duplicates != float64(dups) {
		t.Errorf("duplicates = %v; want %d", m.Duplicates, dups)
	}
	if m.Consumed[envelope.KindContainer] != 45 || m.Consumed[envelope.KindHeartbeat] != 45 {
		t.Errorf("consumed = %v; want 45 containers and 45 heartbeats", m.Consumed)
	}
	var ms []map[string]any
	if code := call(t, "GET", r.api.URL+"/api/machines", "", "", &ms); code != http.StatusOK || len(ms) != 3 {
		t.Fatalf("GET /api/machines = %d, %d machines; want 200, 3", code, len(ms))
	}
	if ms[0]["containersToday"] != float64(15) || ms[0]["depositsToday"] != 7.5 {
		t.Errorf("machine %v: containersToday %v depositsToday %v; want 15, 7.5", ms[0]["serial"], ms[0]["containersToday"], ms[0]["depositsToday"])
	}
}

// Bad events are quarantined with a reason, and good ones keep flowing.
func TestBadEventsQuarantined(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A", "RVM-B")
	o := e.gatewayOptions("")
	o.MaxPayload = 4096
	r := e.startGateway(o)
	good := func() string { return e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 1, nil)) }
	good()
	other := e.envelopeFor("RVM-B", envelope.KindTransaction, "", e.transaction("RVM-B", eanOK, 1, nil))
	b, _ := json.Marshal(other)
	e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindTransaction), b, false) // serial differs
	good()
	e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindTransaction), []byte(`{"v":1,"id":`), false) // malformed
	good()
	big := e.envelopeFor("RVM-A", envelope.KindHeartbeat, "", map[string]string{"pad": strings.Repeat("x", 5000)})
	b, _ = json.Marshal(big)
	e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindHeartbeat), b, false) // oversized
	bad := e.envelopeFor("RVM-A", envelope.KindHeartbeat, "", map[string]string{})
	bad.V = 2
	b, _ = json.Marshal(bad)
	e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindHeartbeat), b, false) // fails Validate
	kind := e.envelopeFor("RVM-A", envelope.KindHeartbeat, "", map[string]string{})
	b, _ = json.Marshal(kind)
	e.publishRaw(envelope.EventTopic("RVM-A", envelope.KindTransaction), b, false) // kind differs
	good()
	waitFor(t, "4 good transactions delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 4 })
	var q []store.Quarantined
	waitFor(t, "5 quarantined", func() bool {
		call(t, "GET", r.api.URL+"/api/quarantine", "", "", &q)
		return len(q) == 5
	})
	// Arrival order is not publication order (paho hands messages over
	// concurrently): match each reason to its entry.
	for _, w := range []string{"topic kind \"transaction\" differs from envelope kind \"heartbeat\"", "envelope: invalid: version 2",
		"oversized: ", "malformed JSON", "topic serial \"RVM-A\" differs from envelope machine \"RVM-B\""} {
		found := false
		for _, e := range q {
			if !strings.Contains(e.Reason, w) {
				continue
			}
			found = true
			if w == "oversized: " && (e.Size <= 4096 || len(e.Payload) > 4096) {
				t.Errorf("oversized entry: size %d, kept %d bytes; want size > 4096 and at most 4096 kept", e.Size, len(e.Payload))
			}
		}
		if !found {
			t.Errorf("quarantine has no entry with reason %q: %+v", w, q)
		}
	}
	if got := r.gw.Metrics().Quarantined; got != 5 {
		t.Errorf("quarantined metric = %v; want 5", got)
	}
}

// The operator is down for a while (a short outage window standing in for
// a minute): nothing is lost, and everything arrives once afterwards.
func TestOperatorOutage(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drs.db")
	e := newEnv(t, drssim.Options{DB: db}, "RVM-A", "RVM-B")
	// The machines are registered; the operator goes down now, for a while.
	now := time.Now()
	e.sim.Close()
	sim, err := drssim.New(drssim.Options{DB: db, Catalog: testCatalog(t), Token: token, Outage: drssim.Outage{From: now, To: now.Add(1500 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.front.mu.Lock()
	e.front.next, e.sim = sim, sim
	e.front.mu.Unlock()
	r := e.startGateway(e.gatewayOptions(""))
	var ids []string
	for i := 0; i < 10; i++ {
		m := []string{"RVM-A", "RVM-B"}[i%2]
		ids = append(ids, e.publishTx(m, e.transaction(m, eanOK, 1, nil)))
	}
	waitFor(t, "a retry during the outage", func() bool { return r.gw.Metrics().Retries[envelope.KindTransaction] > 0 })
	waitFor(t, "10 delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 10 })
	if got := len(e.simTransactions()); got != 10 {
		t.Errorf("operator holds %d transactions; want 10", got)
	}
	st, _ := sim.Stats(context.Background())
	if st.Faults["outage"] == 0 {
		t.Errorf("outage answers = 0; want some")
	}
	if len(ids) != 10 {
		t.Fatal("published fewer than 10")
	}
}

// A 429 with Retry-After parks the machine until then, by the gateway's
// clock, and the event goes through afterwards.
func TestTooManyRequestsRetryAfter(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	clk := newClock()
	o := e.gatewayOptions("")
	o.Clock = clk
	o.BaseBackoff, o.MaxBackoff = time.Second, time.Second
	var once sync.Once
	e.front.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		answered := false
		if r.URL.Path == "/transaction" {
			once.Do(func() {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
				answered = true
			})
		}
		return answered
	})
	r := e.startGateway(o)
	e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 1, nil))
	var q store.QueueState
	waitFor(t, "the 429 to park the machine", func() bool {
		var err error
		q, err = r.gw.Store().Queue(context.Background(), "RVM-A")
		return err == nil && q.Fails == 1 && q.LeaseOwner == ""
	})
	if want := clk.Now().Add(30 * time.Second); !q.NextAt.Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("next attempt at %v; want %v (Retry-After 30 s)", q.NextAt, want)
	}
	if n := eventCount(t, r.gw, store.StatePending); n != 1 {
		t.Errorf("pending = %d; want 1", n)
	}
	clk.Advance(30 * time.Second)
	waitFor(t, "delivery after Retry-After", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 1 })
	if n := e.front.count("POST /transaction"); n != 2 {
		t.Errorf("POST /transaction calls = %d; want 2", n)
	}
}

// The failure report's life: refused -> listed -> retried (delivered) or
// dismissed -> purged after 30 days; a refused event does not block the
// machine's later ones.
func TestFailureReportLifecycle(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	clk := newClock()
	o := e.gatewayOptions("")
	o.Clock = clk
	o.APIToken = "pos-secret"
	r := e.startGateway(o)
	refused := e.publishTx("RVM-A", e.transaction("RVM-A", eanBad, 2, nil))
	later := e.publishTx("RVM-A", e.transaction("RVM-A", eanOK, 1, nil))
	waitFor(t, "the later transaction delivered", func() bool {
		ev, err := r.gw.Store().Event(context.Background(), later)
		return err == nil && ev.State == store.StateDelivered
	})
	var fs []store.Failure
	if code := call(t, "GET", r.api.URL+"/api/failures", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/failures without token = %d; want 401", code)
	}
	call(t, "GET", r.api.URL+"/api/failures", "pos-secret", "", &fs)
	if len(fs) != 1 || fs[0].EventID != refused || fs[0].HTTPStatus != 422 || fs[0].Code != drsapi.CodeProductBadState ||
		fs[0].Kind != envelope.KindTransaction || fs[0].Machine != "RVM-A" || fs[0].FirstTry.IsZero() || !strings.Contains(fs[0].Message, "containers.ean[0]") {
		t.Fatalf("failures = %+v; want the refused transaction with 422 %s", fs, drsapi.CodeProductBadState)
	}
	// Staff fix the cause (the operator accepts the product now) and retry.
	p := testCatalog(t)[1]
	accept := drsapi.StatusAccept
	p.CollectionStatusID = &accept
	e.sim.PutProduct(p)
	if code := call(t, "POST", r.api.URL+"/api/failures/"+refused+"/retry", "pos-secret", "", nil); code != http.StatusOK {
		t.Fatalf("retry = %d; want 200", code)
	}
	waitFor(t, "the retried transaction delivered", func() bool {
		ev, err := r.gw.Store().Event(context.Background(), refused)
		return err == nil && ev.State == store.StateDelivered
	})
	call(t, "GET", r.api.URL+"/api/failures", "pos-secret", "", &fs)
	if len(fs) != 0 {
		t.Errorf("failures after retry = %+v; want none", fs)
	}
	// A second refusal is dismissed, kept 30 days, then purged.
	p.CollectionStatusID = new(int)
	e.sim.PutProduct(p)
	again := e.publishTx("RVM-A", e.transaction("RVM-A", eanBad, 1, nil))
	waitFor(t, "the second refusal", func() bool {
		call(t, "GET", r.api.URL+"/api/failures", "pos-secret", "", &fs)
		return len(fs) == 1
	})
	if code := call(t, "POST", r.api.URL+"/api/failures/"+again+"/dismiss", "pos-secret", "", nil); code != http.StatusOK {
		t.Fatalf("dismiss = %d; want 200", code)
	}
	if code := call(t, "POST", r.api.URL+"/api/failures/nope/dismiss", "pos-secret", "", nil); code != http.StatusNotFound {
		t.Errorf("dismiss unknown = %d; want 404", code)
	}
	call(t, "GET", r.api.URL+"/api/failures", "pos-secret", "", &fs)
	if len(fs) != 0 {
		t.Errorf("open failures after dismiss = %+v; want none", fs)
	}
	call(t, "GET", r.api.URL+"/api/failures?all=1", "pos-secret", "", &fs)
	if len(fs) != 1 || fs[0].Status != store.FailureDismissed {
		t.Fatalf("all failures = %+v; want the dismissed one", fs)
	}
	clk.Advance(29 * 24 * time.Hour)
	if n, err := r.gw.PurgeFailures(context.Background()); err != nil || n != 0 {
		t.Errorf("PurgeFailures after 29 days = %d, %v; want 0, nil", n, err)
	}
	clk.Advance(2 * 24 * time.Hour)
	if n, err := r.gw.PurgeFailures(context.Background()); err != nil || n != 1 {
		t.Errorf("PurgeFailures after 31 days = %d, %v; want 1, nil", n, err)
	}
	call(t, "GET", r.api.URL+"/api/failures?all=1", "pos-secret", "", &fs)
	if len(fs) != 0 {
		t.Errorf("failures after purge = %+v; want none", fs)
	}
	ev, _ := r.gw.Store().Event(context.Background(), again)
	if ev.State != store.StateDismissed {
		t.Errorf("dismissed event state = %q; want %q (never forwarded)", ev.State, store.StateDismissed)
	}
}

// Events of a machine that arrive out of seq order are still handed to
// the operator in seq order.
func TestOutOfOrderArrival(t *testing.T) {
	e := newEnv(t, drssim.Options{}, "RVM-A")
	o := e.gatewayOptions("")
	// Long enough never to run out here; the arrival of seq 1 ends the wait.
	o.GapWait = time.Hour
	r := e.startGateway(o)
	first := e.transaction("RVM-A", eanOK, 1, nil)
	second := e.transaction("RVM-A", eanOK, 2, nil)
	env1 := e.envelopeFor("RVM-A", envelope.KindTransaction, first.ID, first)
	env2 := e.envelopeFor("RVM-A", envelope.KindTransaction, second.ID, second)
	e.publishEnvelope(env2)
	waitFor(t, "seq 2 stored", func() bool {
		_, err := r.gw.Store().Event(context.Background(), second.ID)
		return err == nil
	})
	e.publishEnvelope(env1)
	waitFor(t, "both delivered", func() bool { return eventCount(t, r.gw, store.StateDelivered) == 2 })
	got := e.simTransactions()
	if got[0].ID != first.ID || got[1].ID != second.ID {
		t.Errorf("operator order = %s, %s; want seq 1 (%s) first", got[0].ID, got[1].ID, first.ID)
	}
}

// machine is a real machine's publishing side for these tests: the
// telemetry publisher draining an outbox in SQLite, confirming with the
// gateway (rvm/SERIAL/ack), with a fast heartbeat.
type machine struct {
	t      *testing.T
	e      *env
	serial string
	db     *sql.DB
	pub    *telemetry.Publisher
}

func (e *env) startMachine(serial string) *machine {
	e.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.t.TempDir(), "ledger.db")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		e.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	e.t.Cleanup(func() { db.Close() })
	o := telemetry.Options{
		Broker: e.broker.URL(), Serial: serial, Logger: testLogger(),
		StatusFunc:  func() envelope.Status { return envelope.Status{RvmID: e.rvm[serial], State: "idle"} },
		GatewayAcks: true, ResendAfter: 300 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond, HeartbeatFunc: func() envelope.Heartbeat { return envelope.Heartbeat{PowerStatus: "mains"} },
	}
	o.Backoff.Min, o.Backoff.Max = 20*time.Millisecond, 200*time.Millisecond
	p, err := telemetry.NewPublisher(db, o)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return &machine{t: e.t, e: e, serial: serial, db: db, pub: p}
}

// transaction records a session's transaction in the outbox, as the ledger
// does, and returns its id.
func (m *machine) transaction() string {
	m.t.Helper()
	tx := m.e.transaction(m.serial, eanOK, 1, nil)
	body, err := json.Marshal(tx)
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := outbox.Append(context.Background(), m.db, outbox.Record{
		ID: tx.ID, Kind: envelope.KindTransaction, TS: time.Now(), RvmID: m.e.rvm[m.serial], Body: body}); err != nil {
		m.t.Fatal(err)
	}
	m.pub.Notify()
	return tx.ID
}

// TestBrokerAndGatewayRestart: a machine's money goes through a broker
// restart and the gateway's absences. mosquitto 2.0 does not restore the
// gateway's shared subscription from its persistence file, so what a
// machine publishes right after the restart, before the gateway has
// subscribed again, is acknowledged by the broker and dropped
// (gateway/doc.go, "Broker restarts"). The machine keeps every record
// until the gateway confirms it and sends again what the gateway evidently
// missed: every transaction reaches the operator exactly once.
func TestBrokerAndGatewayRestart(t *testing.T) {
	e := newEnvOpts(t, drssim.Options{}, []testbroker.Option{testbroker.WithPersistence(true), testbroker.WithStopSignal(syscall.SIGTERM)}, "RVM-A")
	o := e.gatewayOptions(filepath.Join(t.TempDir(), "gw.db"))
	o.AckEvery = 100 * time.Millisecond
	r := e.startGateway(o)
	m := e.startMachine("RVM-A")
	var ids []string
	publish := func(n int) {
		for range n {
			ids = append(ids, m.transaction())
		}
	}
	delivered := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d delivered", n), func() bool { return eventCount(t, r.gw, store.StateDelivered) == n })
	}
	publish(5)
	delivered(5)

	// The broker restarts under a running gateway; the machine publishes
	// at once, as soon as it is back on the broker (it reconnects within
	// 200 ms, the gateway within seconds).
	e.broker.Stop()
	e.broker.Restart()
	publish(5)
	delivered(10)

	// The gateway is away across a broker restart: what the machine
	// publishes has no subscriber at all, and the broker acknowledges it.
	r.stop(t)
	e.broker.Stop()
	e.broker.Restart()
	publish(5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := m.pub.Drain(ctx); err != nil {
		t.Fatalf("the machine's records never reached the broker: %v", err)
	}
	cancel()
	r = e.startGateway(o)
	delivered(15)

	// The gateway is away, the broker stays: its session keeps what the
	// machine publishes.
	r.stop(t)
	publish(5)
	r = e.startGateway(o)
	delivered(20)

	got := map[string]int{}
	for _, tx := range e.simTransactions() {
		got[tx.ID]++
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("transaction %s at the operator %d times; want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("operator holds %d transactions; want %d", len(got), len(ids))
	}
	waitFor(t, "every record confirmed", func() bool { return m.pub.Stats().Unconfirmed == 0 })
	t.Logf("machine: %+v", m.pub.Stats())
}
