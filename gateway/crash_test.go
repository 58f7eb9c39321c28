package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
)

// TestMain doubles as the gateway process of TestGatewayKilledMidStream:
// re-executed with RVM_GATEWAY_CHILD set, the test binary runs a gateway
// until it is killed.
func TestMain(m *testing.M) {
	if os.Getenv("RVM_GATEWAY_CHILD") != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

func child() int {
	g, err := gateway.New(gateway.Options{
		MQTTURL: os.Getenv("RVM_MQTT"), ClientID: os.Getenv("RVM_CLIENT_ID"),
		DRSURL: os.Getenv("RVM_DRS"), DRSToken: token, DB: os.Getenv("RVM_DB"),
		PollInterval: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		// A short lease: the killed process's claims expire soon.
		Lease: 2 * time.Second, GapWait: 200 * time.Millisecond, JobInterval: -1, Logger: testLogger(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		<-g.Ready()
		fmt.Println("ready")
	}()
	if err := g.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs the test binary as a gateway process and waits until it
// subscribed.
func startChild(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"RVM_GATEWAY_CHILD=1"}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case line <- s.Text():
			default:
			}
		}
	}()
	select {
	case l := <-line:
		if l != "ready" {
			t.Fatalf("child said %q; want ready", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child gateway not ready in 30 s")
	}
	return cmd
}

// SIGKILL of the gateway mid-stream, then a restart: nothing lost, nothing
// doubled at the operator.
func TestGatewayKilledMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	machines := serials(4)
	e := newEnv(t, drssim.Options{}, machines...)
	db := filepath.Join(t.TempDir(), "gateway.db")
	env := []string{"RVM_MQTT=" + e.broker.URL(), "RVM_DRS=" + e.simURL, "RVM_DB=" + db, "RVM_CLIENT_ID=gw-crash"}
	first := startChild(t, env...)

	const total = 240
	var mu sync.Mutex
	published := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			m := machines[i%len(machines)]
			id := e.publishTx(m, e.transaction(m, eanOK, 1, nil))
			mu.Lock()
			published[id] = true
			mu.Unlock()
			if i%8 == 0 {
				time.Sleep(time.Millisecond) // spread the stream over the kill
			}
		}
	}()
	waitFor(t, "a quarter delivered", func() bool { return len(e.simTransactions()) >= total/4 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := len(e.simTransactions())
	startChild(t, env...)
	<-done
	waitFor(t, "every transaction at the operator", func() bool { return len(e.simTransactions()) >= total })
	seen := map[string]int{}
	for _, tx := range e.simTransactions() {
		seen[tx.ID]++
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range published {
		if seen[id] != 1 {
			t.Errorf("transaction %s at the operator %d times; want 1", id, seen[id])
		}
	}
	if len(seen) != total {
		t.Errorf("operator holds %d distinct transactions; want %d", len(seen), total)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, "the gateway to record every delivery", func() bool {
		c, err := st.EventCounts(context.Background())
		return err == nil && c[store.StateDelivered] == total && c[store.StatePending] == 0
	})
	t.Logf("killed with %d of %d at the operator; %d operator answers 409 after the restart",
		killedAt, total, e.front.count("POST /transaction")-total)
}
