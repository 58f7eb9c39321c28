package daemon

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/sdnotify"
	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
)

// notifySocket plays systemd: a datagram socket that NOTIFY_SOCKET names,
// with a watchdog of the given period.
func notifySocket(t *testing.T, watchdog time.Duration) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	t.Setenv("WATCHDOG_PID", "")
	return c
}

// datagrams reads what systemd would have received for the given time, or
// until it has been quiet for that long.
func datagrams(c *net.UnixConn, window time.Duration) []string {
	var out []string
	buf := make([]byte, 4096)
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		c.SetReadDeadline(end)
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		if n > 0 {
			out = append(out, string(buf[:n]))
		}
	}
	return out
}

func count(ds []string, prefix string) int {
	n := 0
	for _, d := range ds {
		if strings.HasPrefix(d, prefix) {
			n++
		}
	}
	return n
}

// TestSystemdNotify: READY=1 once the controller is up, WATCHDOG=1 from
// the loop while it runs, none while it is stuck (systemd would restart
// it), STATUS= with the machine's state, and STOPPING=1 at a clean stop.
func TestSystemdNotify(t *testing.T) {
	sock := notifySocket(t, 400*time.Millisecond)
	cfg := config.Default()
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	db := filepath.Join(t.TempDir(), "rvmd.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan *Daemon, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DBPath: db, Catalog: cat, Seed: 1,
			Rig:    simrun.NewRig(simrun.RigOptions{Seed: 1, SimState: db + ".sim"}),
			Notify: sdnotify.FromEnv(nil), Ready: func(d *Daemon) { up <- d }})
	}()
	var d *Daemon
	select {
	case d = <-up:
	case err := <-done:
		t.Fatalf("Run = %v before it was up", err)
	}

	// Running: READY once, then pings.
	var running []string
	for count(running, "WATCHDOG=1") < 3 {
		got := datagrams(sock, 5*time.Second)
		if len(got) == 0 {
			t.Fatalf("no watchdog pings from a running loop; got %q", running)
		}
		running = append(running, got...)
	}
	if n := count(running, "READY=1"); n != 1 {
		t.Errorf("READY=1 sent %d times; want once: %q", n, running)
	}
	if !strings.Contains(strings.Join(running, "\n"), "STATUS=") {
		t.Errorf("no STATUS= line: %q", running)
	}

	// Stuck: an act that does not return holds the loop.
	stuck, release := make(chan struct{}), make(chan struct{})
	go d.Do(ctx, func(context.Context, *machine.Controller) (any, error) {
		close(stuck)
		<-release
		return nil, nil
	})
	<-stuck
	datagrams(sock, 50*time.Millisecond) // what was sent before it stuck
	if got := datagrams(sock, 2*time.Second); count(got, "WATCHDOG=1") != 0 {
		t.Errorf("a stuck loop pinged the watchdog: %q", got)
	}

	// Free again: the pings come back; a clean stop says STOPPING.
	close(release)
	var again []string
	for count(again, "WATCHDOG=1") == 0 {
		got := datagrams(sock, 5*time.Second)
		if len(got) == 0 {
			t.Fatal("no watchdog ping after the loop was freed")
		}
		again = append(again, got...)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := datagrams(sock, 200*time.Millisecond); count(got, "STOPPING=1") != 1 {
		t.Errorf("after a clean stop: %q; want STOPPING=1", got)
	}
}
