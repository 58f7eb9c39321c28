package telemetry_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// The helper process: a publisher that runs until it is killed.
const (
	helperEnv       = "TELEMETRY_TEST_HELPER"
	helperDBEnv     = "TELEMETRY_TEST_DB"
	helperBrokerEnv = "TELEMETRY_TEST_BROKER"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "publisher" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

func runHelper() int {
	db, err := openHelperDB(os.Getenv(helperDBEnv))
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 2
	}
	opts := telemetry.Options{Broker: os.Getenv(helperBrokerEnv), Serial: "K1", Window: 2}
	p, err := telemetry.NewPublisher(db, opts)
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 2
	}
	_ = p.Run(context.Background()) // until SIGKILL
	return 0
}

func TestDeliversEveryRecordAsInTheOutbox(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/A1/#", subOpts{})

	var want []outbox.Record
	for i := range 300 {
		kind := []string{envelope.KindTransaction, envelope.KindVoucher, envelope.KindBagFillStatus, envelope.KindHeartbeat}[i%4]
		want = append(want, record(i, kind))
	}
	// The ledger's bodies are compact JSON; one with spaces and one with
	// characters JSON escapes check that the envelope is still exact.
	want[1].Body = json.RawMessage("{ \"id\": \"v-1\",\n \"note\": \"<a&b>\" }")
	want[2].ID = "id-with-\"quotes\"-and-ł"
	want = fill(t, db, want...)

	p := startPublisher(t, db, baseOptions(t, b.URL(), "A1"))
	drain(t, p)
	// Records appended while it runs go out after Notify.
	more := fill(t, db, transactions(300, 50)...)
	p.Notify()
	drain(t, p)
	want = append(want, more...)

	sub.waitEvents(len(want))
	if repeats := checkDelivery(t, sub.messages(), "A1", want); repeats != 0 {
		t.Errorf("repeats = %d on a steady connection; want 0", repeats)
	}
	st := p.Stats()
	if st.Acked != uint64(len(want)) || st.Sent != uint64(len(want)) || st.Resent != 0 || st.Epoch != 1 || !st.Connected {
		t.Errorf("Stats() = %+v; want %d sent and acked, none resent, epoch 1, connected", st, len(want))
	}
	if rows, _, _ := outbox.Depth(context.Background(), db); rows != 0 {
		t.Errorf("outbox depth after Drain = %d; want 0", rows)
	}
}

func TestStatusRetainedAndOfflineOnCleanShutdown(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	fill(t, db, transactions(0, 3)...)
	opts := baseOptions(t, b.URL(), "S1")
	p := startPublisher(t, db, opts)
	drain(t, p)
	p.StatusChanged()

	// A subscriber arriving later gets the retained status.
	sub := subscribe(t, b.URL(), envelope.StatusTopic("S1"), subOpts{})
	sub.waitFor("online status with an empty outbox", func() bool {
		st, ok := sub.lastStatus()
		return ok && st.Online && st.OutboxDepth == 0
	})
	st, _ := sub.lastStatus()
	want := envelope.Status{Online: true, Machine: "S1", Firmware: "1.4.2", RvmID: rvmID, State: "idle", BagFill: 0.25, BagCount: 100, TS: st.TS}
	if st != want {
		t.Errorf("status = %+v; want %+v", st, want)
	}

	p.stop(t)
	later := subscribe(t, b.URL(), envelope.StatusTopic("S1"), subOpts{})
	later.waitFor("a retained status", func() bool { _, ok := later.lastStatus(); return ok })
	if st, _ := later.lastStatus(); st.Online || st.Machine != "S1" {
		t.Errorf("retained status after clean shutdown = %+v; want online false for S1", st)
	}
}

func TestHeartbeatGoesThroughTheOutbox(t *testing.T) {
	b := testbroker.Start(t)
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/H1/evt/#", subOpts{})
	opts := baseOptions(t, b.URL(), "H1")
	opts.HeartbeatFunc = func() envelope.Heartbeat {
		return envelope.Heartbeat{StatusCode: 1, PowerStatus: "mains", LastCleaningDate: "2026-01-04", Uptime: 3600}
	}
	p := startPublisher(t, db, opts)
	recs := fill(t, db, transactions(0, 2)...)
	if err := p.Heartbeat(context.Background()); err != nil {
		t.Fatalf("Heartbeat() = %v; want nil", err)
	}
	drain(t, p)
	sub.waitEvents(3)
	msgs := sub.messages()
	var hb envelope.Envelope
	if err := json.Unmarshal(msgs[len(msgs)-1].payload, &hb); err != nil {
		t.Fatal(err)
	}
	if hb.Kind != envelope.KindHeartbeat || hb.Seq != recs[1].Seq+1 || hb.RvmID != rvmID ||
		string(hb.Body) != `{"statusCode":1,"powerStatus":"mains","lastCleaningDate":"2026-01-04","uptimeS":3600}` {
		t.Errorf("heartbeat = %+v %s; want kind heartbeat, seq %d, the health body", hb, hb.Body, recs[1].Seq+1)
	}
}

// The broker goes away mid-stream (a clean stop that saves its state) and
// comes back: nothing lost, order kept, repeats only with the same id.
func TestBrokerStoppedMidStream(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithPersistence(true), testbroker.WithStopSignal(syscall.SIGTERM))
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/M1/evt/#", subOpts{clientID: "gateway-M1"})
	want := fill(t, db, transactions(0, 4000)...)
	opts := baseOptions(t, b.URL(), "M1")
	opts.Window = 8
	p := startPublisher(t, db, opts)

	sub.waitEvents(200)
	b.Stop()
	rows, _, _ := outbox.Depth(context.Background(), db)
	t.Logf("broker stopped with %d records still in the outbox", rows)
	want = append(want, fill(t, db, transactions(4000, 100)...)...)
	p.Notify()
	b.Restart()
	drain(t, p)

	sub.waitEvents(len(want))
	repeats := checkDelivery(t, sub.messages(), "M1", want)
	st := p.Stats()
	t.Logf("repeats seen %d, stats %+v", repeats, st)
	if st.Epoch < 2 {
		t.Errorf("Stats().Epoch = %d; want a reconnect (>= 2)", st.Epoch)
	}
}

// OnLink hears the connection come, go with the broker, and come back.
// Offline, Run's heartbeat appends only news: a health (uptime aside)
// unlike the last one appended. Online, every period appends one. The
// test's fake clock ticks the period.
func TestOfflineHeartbeatsOnlyNews(t *testing.T) {
	b := testbroker.Start(t)
	link := newProxy(t, b.Addr())
	link.setUp(false)
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/H2/evt/heartbeat", subOpts{})
	clk := clock.NewFake(t0)
	opts := baseOptions(t, link.url(), "H2")
	opts.Clock, opts.HeartbeatInterval = clk, time.Minute
	var mu sync.Mutex
	power, calls := "mains", 0
	opts.HeartbeatFunc = func() envelope.Heartbeat {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return envelope.Heartbeat{PowerStatus: power, Uptime: int64(calls) * 60}
	}
	called := func() int { mu.Lock(); defer mu.Unlock(); return calls }
	p := startPublisher(t, db, opts)
	// tick moves the clock a period on and waits until the heartbeat has
	// asked for the health. The first tick may come before Run made its
	// ticker: it is given again until it is heard.
	tick := func() {
		t.Helper()
		n := called()
		for tries := 0; ; tries++ {
			clk.Advance(time.Minute)
			deadline := time.Now().Add(patience)
			if n == 0 {
				deadline = time.Now().Add(time.Second)
			}
			for called() == n && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if called() > n {
				return
			}
			if n > 0 || tries == 30 {
				t.Fatalf("no heartbeat after tick %d", n+1)
			}
		}
	}
	setPower := func(s string) { mu.Lock(); power = s; mu.Unlock() }

	// Run starts its heartbeat before its first connect.
	waitUntil(t, "the first connect", func() bool { return p.Stats().Epoch >= 1 })
	for range 5 { // offline, the same health: the first only
		tick()
	}
	setPower("battery")
	for range 3 { // a change, then the same again
		tick()
	}
	setPower("mains")
	tick() // back to mains: news too
	link.setUp(true)
	// The reconnect's backoff runs on the fake clock: move it in steps
	// far shorter than the heartbeat's period.
	waitUntil(t, "the reconnect", func() bool {
		clk.Advance(50 * time.Millisecond)
		return p.Stats().Connected
	})
	tick() // online: every period
	tick()
	tick() // the last tick's heartbeat is appended before this one asks

	want := []struct {
		power  string
		uptime int64
	}{{"mains", 60}, {"battery", 360}, {"mains", 540}, {"mains", 600}, {"mains", 660}, {"mains", 720}}
	sub.waitEvents(len(want))
	msgs := sub.messages()
	if len(msgs) != len(want) {
		t.Fatalf("%d heartbeats published; want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		var env envelope.Envelope
		var h envelope.Heartbeat
		if err := json.Unmarshal(m.payload, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Body, &h); err != nil {
			t.Fatal(err)
		}
		if h.PowerStatus != want[i].power || h.Uptime != want[i].uptime {
			t.Errorf("heartbeat %d = %s %ds; want %s %ds", i, h.PowerStatus, h.Uptime, want[i].power, want[i].uptime)
		}
	}
}

func TestOnLinkFollowsTheConnection(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithPersistence(true), testbroker.WithStopSignal(syscall.SIGTERM))
	db, _ := newDB(t)
	link := make(chan bool, 16)
	opts := baseOptions(t, b.URL(), "L1")
	opts.OnLink = func(up bool) { link <- up }
	startPublisher(t, db, opts)
	next := func(what string) bool {
		t.Helper()
		select {
		case up := <-link:
			return up
		case <-time.After(30 * time.Second):
			t.Fatalf("OnLink never called: %s", what)
			return false
		}
	}
	if !next("connect") {
		t.Fatalf("OnLink(false) first; want true on connect")
	}
	b.Stop()
	if next("broker stopped") {
		t.Fatalf("OnLink(true) after the broker stopped; want false")
	}
	b.Restart()
	if !next("broker back") {
		t.Fatalf("OnLink(false) after the broker came back; want true")
	}
}

// A broker restarted without persistence forgets the machine's session,
// its command subscription and its retained status: the publisher must
// restore all three, and send what piled up meanwhile.
func TestBrokerRestartWithoutPersistence(t *testing.T) {
	b := testbroker.Start(t)
	link := newProxy(t, b.Addr())
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/N1/#", subOpts{})
	want := fill(t, db, transactions(0, 100)...)
	opts := baseOptions(t, link.url(), "N1")
	opts.Commands = &recorder{}
	p := startPublisher(t, db, opts)
	drain(t, p)
	sub.waitEvents(100)

	// Cut the machine off first, so the subscriber is back before the
	// machine reconnects: a broker without persistence drops what nobody
	// is subscribed to.
	link.setUp(false)
	b.Restart()
	sub.waitFor("the subscriber back", func() bool { return sub.subacks >= 2 })
	mark := len(sub.messages())
	want = append(want, fill(t, db, transactions(100, 100)...)...)
	p.Notify()
	link.setUp(true)
	drain(t, p)
	sub.waitEvents(len(want))
	checkDelivery(t, sub.messages(), "N1", want)

	sub.waitFor("the status republished", func() bool {
		for _, m := range sub.msgs[mark:] {
			if m.topic == envelope.StatusTopic("N1") {
				return true
			}
		}
		return false
	})
	// Commands reach the machine again: it subscribed anew.
	replies := subscribe(t, b.URL(), envelope.ReplyTopic("N1"), subOpts{})
	adminPublish(t, b.URL(), "", "", envelope.CommandTopic("N1", envelope.CmdUnblock), false, []byte(`{"id":"c-after-restart","body":{}}`))
	replies.waitFor("a reply", func() bool { return len(replies.msgs) > 0 })
	if got := string(replies.messages()[0].payload); got != `{"id":"c-after-restart","name":"unblock","ok":true,"result":{"applied":"unblock"}}` {
		t.Errorf("reply after restart = %s", got)
	}
}

// The machine dies (SIGKILL) mid-drain and starts again: nothing lost, and
// the broker announced it offline through the last will meanwhile.
func TestPublisherKilledMidDrain(t *testing.T) {
	b := testbroker.Start(t)
	db, path := newDB(t)
	want := fill(t, db, transactions(0, 3000)...)
	events := subscribe(t, b.URL(), "rvm/K1/evt/#", subOpts{clientID: "gateway-K1"})
	status := subscribe(t, b.URL(), envelope.StatusTopic("K1"), subOpts{})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=publisher", helperDBEnv+"="+path, helperBrokerEnv+"="+b.URL())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	status.waitFor("the helper online", func() bool { st, ok := status.lastStatus(); return ok && st.Online })
	events.waitEvents(100)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	status.waitFor("the last will", func() bool { st, ok := status.lastStatus(); return ok && !st.Online })
	rows, _, _ := outbox.Depth(context.Background(), db)
	t.Logf("killed with %d of %d records in the outbox", rows, len(want))

	p := startPublisher(t, db, baseOptions(t, b.URL(), "K1"))
	drain(t, p)
	events.waitEvents(len(want))
	repeats := checkDelivery(t, events.messages(), "K1", want)
	t.Logf("repeats after the restart: %d", repeats)
}

// A day offline: 2,880 transactions with their bag events and 1,440
// heartbeats wait in the outbox, and go out once the broker is back.
func TestDayOffline(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithPersistence(true), testbroker.WithStopSignal(syscall.SIGTERM))
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/D1/evt/#", subOpts{clientID: "gateway-D1"})
	p := startPublisher(t, db, baseOptions(t, b.URL(), "D1"))
	b.Stop()

	var day []outbox.Record
	for i := range 2880 {
		day = append(day, record(i, envelope.KindTransaction))
		if i%2 == 1 {
			day = append(day, record(i, envelope.KindHeartbeat))
		}
		if i%400 == 399 {
			day = append(day, record(i, envelope.KindBagFillStatus), record(i, envelope.KindBagReplacement))
		}
	}
	want := fill(t, db, day...)
	p.Notify()
	b.Restart()
	took := drain(t, p)
	t.Logf("a day offline: %d events delivered %.2f s after the broker returned", len(want), took.Seconds())
	sub.waitEvents(len(want))
	checkDelivery(t, sub.messages(), "D1", want)
}

func TestTLSWithClientCertificate(t *testing.T) {
	b := testbroker.Start(t, testbroker.WithTLS(true))
	certFile, keyFile := b.ClientCert("T1")
	cfg, err := telemetry.TLSConfig(b.CAFile(), certFile, keyFile)
	if err != nil {
		t.Fatalf("TLSConfig() = %v; want nil", err)
	}
	db, _ := newDB(t)
	fill(t, db, transactions(0, 10)...)
	opts := baseOptions(t, b.URL(), "T1")
	opts.TLS = cfg
	p := startPublisher(t, db, opts)
	drain(t, p)
	if st := p.Stats(); st.Acked != 10 {
		t.Errorf("Stats().Acked = %d; want 10", st.Acked)
	}
}

func openHelperDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Publishes that never got their PUBACK stay in the outbox, however paho
// completes their tokens, and go out again on the next connection.
func TestNoPubackNoAck(t *testing.T) {
	b := testbroker.Start(t)
	link := newProxy(t, b.Addr())
	db, _ := newDB(t)
	sub := subscribe(t, b.URL(), "rvm/P1/#", subOpts{})
	opts := baseOptions(t, link.url(), "P1")
	opts.Window = 8
	p := startPublisher(t, db, opts)
	sub.waitFor("online", func() bool { st, ok := sub.lastStatus(); return ok && st.Online })

	link.stall()
	want := fill(t, db, transactions(0, 50)...)
	p.Notify()
	waitUntil(t, "a full window sent", func() bool { return p.Stats().Sent >= 8 })
	st := p.Stats()
	rows, _, _ := outbox.Depth(context.Background(), db)
	if st.Acked != 0 || rows != 50 {
		t.Fatalf("without PUBACKs: Stats() = %+v, outbox depth %d; want nothing acked, 50 waiting", st, rows)
	}
	if st.Sent != 8 {
		t.Errorf("Stats().Sent = %d without PUBACKs; want the window, 8", st.Sent)
	}

	link.setUp(false)
	link.setUp(true)
	drain(t, p)
	sub.waitEvents(len(want))
	checkDelivery(t, sub.messages(), "P1", want)
	if st := p.Stats(); st.Resent < 8 || st.Acked != 50 {
		t.Errorf("Stats() = %+v; want the 8 unacknowledged resent, 50 acked", st)
	}
}

// waitUntil polls cond; for conditions no channel announces.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
