// Package sdnotify tells systemd how rvmd is doing: READY=1 once the ledger
// is recovered and the devices answer, WATCHDOG=1 from the control loop
// itself, and STATUS= with the machine's state. It speaks only when
// NOTIFY_SOCKET is set (rvmd started by a unit with Type=notify); elsewhere
// every call is a no-op, so the same binary runs by hand, under -sim and on
// the Pi.
//
// # Usage
//
//	n := sdnotify.FromEnv()
//	// ... recover the ledger, open the devices ...
//	n.Ready("ready")
//	for { // the control loop
//		n.Beat(clk.Now()) // at least every Interval()/2
//		...
//	}
//	n.Stopping()
//
// The watchdog ping is tied to the loop on purpose: Beat is called by the
// loop between events, so a loop stuck in a device read or a deadlock stops
// pinging and systemd (WatchdogSec) restarts the service. A goroutine that
// pinged on its own timer would keep a dead loop alive.
//
// # Concurrency
//
// A Notifier is safe for concurrent use; Beat is cheap when no ping is due.
package sdnotify
