package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// freePort returns a loopback port free now: drs-sim restarts on it.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// decisions collects, from the machine's container batches on the broker,
// when each container of each transaction was decided.
type decisions struct {
	mu   sync.Mutex
	byTx map[string][]time.Time // guarded by mu
	seen map[string]bool        // batch ids; guarded by mu
}

func (d *decisions) handle(_ mqtt.Client, m mqtt.Message) {
	var env envelope.Envelope
	var b envelope.ContainerBatch
	if json.Unmarshal(m.Payload(), &env) != nil || json.Unmarshal(env.Body, &b) != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[env.ID] {
		return
	}
	d.seen[env.ID] = true
	for _, c := range b.Containers {
		if at, err := time.Parse(time.RFC3339Nano, c.DecidedAt); err == nil {
			d.byTx[b.TransactionID] = append(d.byTx[b.TransactionID], at)
		}
	}
}

// TestSensorToOperator runs a real rvmd (simulated machine, simulated
// customers, real time) into the real gateway and drs-sim through
// mosquitto, and cuts each link once: the broker away, the gateway
// SIGKILLed, the operator away. It measures, for every container, the time
// from its decision (the container batches' decidedAt) to its transaction at
// the operator (drs-sim polled every 100 ms), by the phase the decision fell
// in, and logs the figures (BENCHMARKS.md). It asserts what must hold
// whatever the timing: every transaction at the operator exactly once, and
// every batched container's transaction among them.
func TestSensorToOperator(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: skipped with -short")
	}
	bin := binaries(t)
	dir := t.TempDir()
	b := testbroker.Start(t)
	const machine = "RVM-E2E-LIVE"

	port := strconv.Itoa(freePort(t))
	simArgs := []string{"-listen", "127.0.0.1:" + port, "-db", filepath.Join(dir, "drs.db"), "-token", token}
	sim := start(t, filepath.Join(bin, "drs-sim"), simArgs...)
	drsURL := sim.waitLine(t, drsListening)
	id, err := drs.New(drsURL, token, nil).RegisterMachine(context.Background(), drsapi.MachineUpdate{SerialNumber: machine, DrsCpNo: "1100061-152",
		Bins: []drsapi.BinPost{{WasteType: []int{7, 3}, Litrage: 240}}})
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "rvmd.db")
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := led.SetMeta(context.Background(), "rvm_id", id); err != nil {
		t.Fatal(err)
	}
	led.Close()

	gwArgs := []string{"-mqtt", b.URL(), "-drs", drsURL, "-drs-token", token, "-db", filepath.Join(dir, "gw.db"),
		"-listen", "127.0.0.1:0", "-client-id", "e2e-live-gateway"}
	gw := start(t, filepath.Join(bin, "rvm-gateway"), gwArgs...)
	gwURL := gw.waitLine(t, gwServing)
	gatewayReady(t, b.URL(), gwURL)

	dec := &decisions{byTx: map[string][]time.Time{}, seen: map[string]bool{}}
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("e2e-decisions").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(envelope.EventTopic(machine, envelope.KindContainers), 1, dec.handle) }))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)

	// The operator's receipts, polled (its clock is this process's).
	arrived := map[string]time.Time{}
	var amu sync.Mutex
	pollCtx, stopPoll := context.WithCancel(context.Background())
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for pollCtx.Err() == nil {
			if txs, err := simTransactions(drsURL); err == nil {
				now := time.Now()
				amu.Lock()
				for _, raw := range txs {
					var tx drsapi.Transaction
					if json.Unmarshal(raw, &tx) == nil {
						if _, ok := arrived[tx.ID]; !ok {
							arrived[tx.ID] = now
						}
					}
				}
				amu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// Customers walking away end their session after 5 s, not 30.
	cfg := filepath.Join(dir, "rvmd.json")
	if err := os.WriteFile(cfg, []byte(`{"idleTimeout":"5s"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rvmd := exec.Command(filepath.Join(bin, "rvmd"), "run", "-sim", "-db", db, "-config", cfg, "-mqtt", b.URL(), "-machine", machine, "-customer-gap", "1s")
	rvmdLog, _ := os.Create(filepath.Join(dir, "rvmd.log"))
	defer rvmdLog.Close()
	rvmd.Stderr = rvmdLog
	if err := rvmd.Start(); err != nil {
		t.Fatal(err)
	}
	type phase struct {
		name       string
		start, end time.Time
	}
	var phases []phase
	mark := func(name string, run func()) {
		p := phase{name: name, start: time.Now()}
		run()
		p.end = time.Now()
		phases = append(phases, p)
	}
	const calm, cut = 15 * time.Second, 5 * time.Second
	mark("normal", func() { time.Sleep(calm) })
	mark("broker away 5 s", func() { b.Stop(); time.Sleep(cut); b.Restart(); time.Sleep(calm - cut) })
	mark("gateway SIGKILLed", func() {
		gw.kill()
		gw = start(t, filepath.Join(bin, "rvm-gateway"), gwArgs...)
		gwURL = gw.waitLine(t, gwServing)
		time.Sleep(calm)
	})
	mark("operator away 5 s", func() {
		sim.kill()
		time.Sleep(cut)
		sim = start(t, filepath.Join(bin, "drs-sim"), simArgs...)
		sim.waitLine(t, drsListening)
		time.Sleep(calm - cut)
	})
	// Every transaction with a container decided in the phases reaches the
	// operator (the sessions open at the end finish first); then rvmd stops.
	end := phases[len(phases)-1].end
	waitDeadline := time.Now().Add(120 * time.Second)
	for {
		dec.mu.Lock()
		want, missing := 0, 0
		amu.Lock()
		for tx, ats := range dec.byTx {
			if slices.MinFunc(ats, func(a, b time.Time) int { return a.Compare(b) }).After(end) {
				continue
			}
			want++
			if _, ok := arrived[tx]; !ok {
				missing++
			}
		}
		amu.Unlock()
		dec.mu.Unlock()
		if want > 0 && missing == 0 {
			break
		}
		if time.Now().After(waitDeadline) {
			// Any loss fails, also one in the broker's restart phase: the
			// gateway's acks make the machine send again what the broker
			// acknowledged and dropped (gateway/doc.go, "Broker restarts").
			dec.mu.Lock()
			amu.Lock()
			byPhase := map[string]int{}
			for tx, ats := range dec.byTx {
				if _, ok := arrived[tx]; ok {
					continue
				}
				if slices.MinFunc(ats, func(a, b time.Time) int { return a.Compare(b) }).After(end) {
					continue
				}
				last := slices.MaxFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
				name := "after the phases"
				for _, p := range phases {
					if !last.Before(p.start) && !last.After(p.end) {
						name = p.name
					}
				}
				byPhase[name]++
			}
			amu.Unlock()
			dec.mu.Unlock()
			log, _ := os.ReadFile(filepath.Join(dir, "rvmd.log"))
			t.Fatalf("%d of %d transactions with containers decided in the test never reached the operator (by the phase their last container fell in: %v)\nquarantine: %s\nfailures: %s\nrvmd:\n%s",
				missing, want, byPhase, get(gwURL+"/api/quarantine"), get(gwURL+"/api/failures?all=1"), log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rvmd.Process.Signal(syscall.SIGTERM)
	if err := rvmd.Wait(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "rvmd.log"))
		t.Fatalf("rvmd: %v\n%s", err, log)
	}
	stopPoll()
	<-pollDone
	txs, err := simTransactions(drsURL)
	if err != nil {
		t.Fatal(err)
	}
	once := map[string]int{}
	for _, raw := range txs {
		var tx drsapi.Transaction
		json.Unmarshal(raw, &tx)
		once[tx.ID]++
	}
	for id, n := range once {
		if n != 1 {
			t.Errorf("transaction %s at the operator %d times; want 1", id, n)
		}
	}

	// Per container (its session's rest included: the transaction exists
	// once the session ends) and per transaction from its last container.
	lat := make([][]float64, len(phases))
	last := make([][]float64, len(phases))
	phaseOf := func(at time.Time) int {
		for i, p := range phases {
			if !at.Before(p.start) && at.Before(p.end) {
				return i
			}
		}
		return -1
	}
	dec.mu.Lock()
	for tx, ats := range dec.byTx {
		for _, at := range ats {
			if i := phaseOf(at); i >= 0 {
				lat[i] = append(lat[i], arrived[tx].Sub(at).Seconds())
			}
		}
		end := slices.MaxFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
		if i := phaseOf(end); i >= 0 {
			last[i] = append(last[i], arrived[tx].Sub(end).Seconds())
		}
	}
	dec.mu.Unlock()
	stats := func(l []float64) string {
		if len(l) == 0 {
			return "none"
		}
		slices.Sort(l)
		q := func(f float64) float64 { return l[min(int(f*float64(len(l))), len(l)-1)] }
		return fmt.Sprintf("%d, p50 %.2f s, p99 %.2f s, max %.2f s", len(l), q(0.5), q(0.99), l[len(l)-1])
	}
	for i, p := range phases {
		t.Logf("decided while %s: container to its transaction at the operator: %s; last container to the operator: %s", p.name, stats(lat[i]), stats(last[i]))
	}
	t.Logf("%d transactions at the operator, each once", len(once))
}

// simTransactions reads the operator's transactions.
func simTransactions(drsURL string) ([]json.RawMessage, error) {
	req, _ := http.NewRequest("GET", drsURL+"/_sim/transactions", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /_sim/transactions: %s", resp.Status)
	}
	var txs []json.RawMessage
	return txs, json.NewDecoder(resp.Body).Decode(&txs)
}

// get returns the body at url, or the error, for a failure's message.
func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
