package sdnotify

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages. The zero value and a nil *Notifier do
// nothing.
type Notifier struct {
	// Immutable.
	enabled  bool
	interval time.Duration // WATCHDOG_USEC; zero: no watchdog
	log      *slog.Logger

	mu       sync.Mutex // guards the fields below
	lastPing time.Time
	status   string
}

// FromEnv reads NOTIFY_SOCKET and WATCHDOG_USEC. log may be nil.
func FromEnv(log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{log: log}
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return n
	}
	n.enabled = true
	iv, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("sdnotify: watchdog setting ignored", "err", err)
	}
	n.interval = iv
	return n
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.enabled }

// Interval is the watchdog period systemd expects (zero when off). The loop
// must call Beat at least every Interval()/2.
func (n *Notifier) Interval() time.Duration {
	if n == nil {
		return 0
	}
	return n.interval
}

// Ready says start-up is done, with a first status line.
func (n *Notifier) Ready(status string) {
	if !n.Enabled() {
		return
	}
	n.send(fmt.Sprintf("%s\nSTATUS=%s", daemon.SdNotifyReady, status))
	n.mu.Lock()
	n.status = status
	n.mu.Unlock()
}

// Status reports the machine's state; a repeat of the last one is not sent.
func (n *Notifier) Status(s string) {
	if !n.Enabled() {
		return
	}
	n.mu.Lock()
	same := n.status == s
	n.status = s
	n.mu.Unlock()
	if !same {
		n.send("STATUS=" + s)
	}
}

// Beat is called by the control loop each time it runs; it sends WATCHDOG=1
// when half the watchdog period has passed since the last ping.
func (n *Notifier) Beat(now time.Time) {
	if !n.Enabled() || n.interval <= 0 {
		return
	}
	n.mu.Lock()
	due := n.lastPing.IsZero() || now.Sub(n.lastPing) >= n.interval/2
	if due {
		n.lastPing = now
	}
	n.mu.Unlock()
	if due {
		n.send(daemon.SdNotifyWatchdog)
	}
}

// Stopping says a clean stop has begun.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

func (n *Notifier) send(state string) {
	if !n.Enabled() {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sdnotify: send", "state", state, "err", err)
	}
}
