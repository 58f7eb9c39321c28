package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/testbroker"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds rvmd, rvm-gateway and drs-sim once for the package.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "rvm-e2e-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/", "../../cmd/rvmd", "../../cmd/rvm-gateway", "../../cmd/drs-sim").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a running binary whose stderr is collected.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	seen chan string
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), seen: make(chan string, 64)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.seen <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.logText())
		}
	})
	return p
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLine waits for a stderr line matching re and returns its first group.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l := <-p.seen:
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no line matching %v; log:\n%s", re, p.logText())
		}
	}
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

var (
	drsListening = regexp.MustCompile(`listening on (http://\S+)`)
	gwServing    = regexp.MustCompile(`url=(http://\S+?)/?$`)
)

const (
	token  = "e2e-operator-token"
	rvmID  = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
	serial = "RVM-E2E-0001"
)

// scenario writes sessions of one to five containers with a bag exchange
// every so often.
func scenario(sessions int) string {
	rng := rand.New(rand.NewPCG(7, 7))
	eans := []string{"5900449000287", "5901012001120", "5901014002194", "5900541000178", "5901012005012", "5901234123457"}
	var b strings.Builder
	fmt.Fprintf(&b, `{"op":"start","at":"2026-04-01T08:00:00Z","rvmId":%q,"seed":3}`+"\n", rvmID)
	for s := 0; s < sessions; s++ {
		for i := 0; i < 1+rng.IntN(5); i++ {
			fmt.Fprintf(&b, `{"op":"insert","ean":%q}`+"\n", eans[rng.IntN(len(eans))])
		}
		b.WriteString(`{"op":"finish","payout":"voucher"}` + "\n")
		if s%40 == 39 {
			fmt.Fprintf(&b, `{"op":"bag-exchange","seal":"55%06d","staff":"3f1e2d10-5b0c-4e57-9d53-4a349f610c7a"}`+"\n", s)
		}
	}
	return b.String()
}

// gatewayReady waits until the gateway consumes from the broker: probes
// on a throw-away topic must show up in its quarantine. bearer is the
// gateway's -api-token, if it runs with one.
func gatewayReady(t *testing.T, brokerURL, gwURL string, bearer ...string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("e2e-probe"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c.Publish("rvm/PROBE/evt/probe", 1, false, []byte("not json")).Wait()
		req, _ := http.NewRequest("GET", gwURL+"/api/quarantine", nil)
		if len(bearer) > 0 {
			req.Header.Set("Authorization", "Bearer "+bearer[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte("PROBE")) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the gateway never consumed a probe")
}

func operatorTransactions(t *testing.T, drsURL string) []json.RawMessage {
	t.Helper()
	req, _ := http.NewRequest("GET", drsURL+"/_sim/transactions", nil)
	req.Header.Set("Authorization", "Bearer "+token) // drs-sim runs with -token
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var txs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&txs); err != nil {
		t.Fatal(err)
	}
	return txs
}

// TestSimulateThroughGatewayKilled: rvmd simulate publishes a few hundred
// sessions; the gateway is SIGKILLed twice while they flow and restarted on
// its database; in the end the operator holds exactly the transactions
// simulate printed, each once, byte for byte.
func TestSimulateThroughGatewayKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: skipped with -short")
	}
	bin := binaries(t)
	dir := t.TempDir()
	b := testbroker.Start(t)

	sim := start(t, filepath.Join(bin, "drs-sim"), "-listen", "127.0.0.1:0", "-db", filepath.Join(dir, "drs.db"), "-token", token)
	drsURL := sim.waitLine(t, drsListening)
	cl := drs.New(drsURL, token, nil)
	if _, err := cl.RegisterMachine(context.Background(), drsapi.MachineUpdate{ID: rvmID, SerialNumber: serial, DrsCpNo: "1100061-152",
		Bins: []drsapi.BinPost{{WasteType: []int{7, 3}, Litrage: 240}}}); err != nil {
		t.Fatal(err)
	}
	gwArgs := []string{"-mqtt", b.URL(), "-drs", drsURL, "-drs-token", token, "-db", filepath.Join(dir, "gw.db"),
		"-listen", "127.0.0.1:0", "-client-id", "e2e-gateway"}
	gw := start(t, filepath.Join(bin, "rvm-gateway"), gwArgs...)
	gwURL := gw.waitLine(t, gwServing)
	gatewayReady(t, b.URL(), gwURL)

	scen := filepath.Join(dir, "scenario.jsonl")
	os.WriteFile(scen, []byte(scenario(300)), 0o644)
	simulate := exec.Command(filepath.Join(bin, "rvmd"), "simulate", "-scenario", scen, "-db", filepath.Join(dir, "rvmd.db"),
		"-mqtt", b.URL(), "-machine", serial, "-drain-timeout", "120s")
	var out, serr bytes.Buffer
	simulate.Stdout, simulate.Stderr = &out, &serr
	if err := simulate.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the gateway twice while events flow; restart it on the same
	// database and client id (its persistent session kept what came).
	for i := 0; i < 2; i++ {
		time.Sleep(time.Duration(400+300*i) * time.Millisecond)
		gw.kill()
		gw = start(t, filepath.Join(bin, "rvm-gateway"), gwArgs...)
		gw.waitLine(t, gwServing)
	}
	if err := simulate.Wait(); err != nil {
		t.Fatalf("simulate: %v\n%s", err, serr.String())
	}
	want := map[string]string{}
	var order []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Kind string          `json:"kind"`
			Body json.RawMessage `json:"body"`
		}
		json.Unmarshal(sc.Bytes(), &l)
		if l.Kind == "transaction" {
			var tx drsapi.Transaction
			json.Unmarshal(l.Body, &tx)
			want[tx.ID] = string(l.Body)
			order = append(order, tx.ID)
		}
	}
	if len(want) < 300 {
		t.Fatalf("simulate printed %d transactions; want 300", len(want))
	}
	var got []json.RawMessage
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if got = operatorTransactions(t, drsURL); len(got) >= len(want) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything extra would be a duplicate
	got = operatorTransactions(t, drsURL)
	seen := map[string]bool{}
	for i, raw := range got {
		var tx drsapi.Transaction
		json.Unmarshal(raw, &tx)
		if seen[tx.ID] {
			t.Errorf("transaction %s accepted twice", tx.ID)
		}
		seen[tx.ID] = true
		w, ok := want[tx.ID]
		if !ok {
			t.Errorf("operator holds unknown transaction %s", tx.ID)
			continue
		}
		var a, b any
		json.Unmarshal([]byte(w), &a)
		json.Unmarshal(raw, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("transaction %s differs:\nsent %s\ngot  %s", tx.ID, w, raw)
		}
		if i < len(order) && order[i] != tx.ID {
			t.Errorf("operator received transaction %d out of order: %s, want %s", i, tx.ID, order[i])
			break
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("transaction %s never reached the operator", id)
		}
	}
	t.Logf("%d transactions sent, %d at the operator", len(want), len(got))
}
