package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen opens the datagram socket systemd would, and points the
// environment at it.
func listen(t *testing.T, watchdogUsec string) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", watchdogUsec)
	t.Setenv("WATCHDOG_PID", "")
	return c
}

// received drains what arrived so far, one string per datagram.
func received(t *testing.T, c *net.UnixConn) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		if n > 0 {
			out = append(out, string(buf[:n]))
		}
	}
}

func TestReadyWatchdogStatus(t *testing.T) {
	c := listen(t, "2000000") // 2 s
	n := FromEnv(nil)
	if !n.Enabled() || n.Interval() != 2*time.Second {
		t.Fatalf("FromEnv: enabled %v interval %v; want true 2s", n.Enabled(), n.Interval())
	}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	n.Ready("ready")
	n.Beat(t0)                              // first ping
	n.Beat(t0.Add(500 * time.Millisecond))  // not due (half period is 1 s)
	n.Beat(t0.Add(1000 * time.Millisecond)) // due
	n.Status("ready")                       // unchanged: not sent
	n.Status("bag full")
	n.Stopping()
	got := received(t, c)
	want := []string{"READY=1\nSTATUS=ready", "WATCHDOG=1", "WATCHDOG=1", "STATUS=bag full", "STOPPING=1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("datagrams = %q; want %q", got, want)
	}
}

// A loop that stops beating stops the pings: systemd then restarts rvmd.
func TestStuckLoopStopsPinging(t *testing.T) {
	c := listen(t, "1000000")
	n := FromEnv(nil)
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 4; i++ {
		n.Beat(t0.Add(time.Duration(i) * 500 * time.Millisecond))
	}
	if got := received(t, c); len(got) != 4 {
		t.Fatalf("pings while the loop runs = %q; want 4", got)
	}
	// The loop is stuck: nothing calls Beat, whatever time passes.
	if got := received(t, c); len(got) != 0 {
		t.Errorf("pings from a stuck loop = %q; want none", got)
	}
}

func TestDisabledWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv(nil)
	if n.Enabled() {
		t.Fatal("Enabled without NOTIFY_SOCKET")
	}
	n.Ready("x")
	n.Beat(time.Now())
	n.Status("y")
	var nilN *Notifier
	nilN.Ready("x")
	nilN.Beat(time.Now())
	if nilN.Interval() != 0 {
		t.Error("nil Notifier has an interval")
	}
}
