// Package daemon wires the controller daemon (rvmd run) together: the
// devices a [Rig] supplies (the Pi's board or the simulator; cmd/rvmd picks
// one, this package imports neither) under the controller's loop
// (machine.Loop), the ledger, the MQTT
// publisher (package telemetry) with its commands, heartbeats and retained
// status, and the outbox disk budget that blocks intake when the broker has
// been away too long.
//
// # Commands
//
// Commands from the fleet arrive on the publisher's worker goroutine;
// [Daemon.HandleCommand] hands each to the loop as an act and waits for its
// result, so the controller is only ever touched by the loop. [Daemon.Do]
// is that act-runner, for the console and the kiosk too. A catalogue
// update is applied atomically (copy-on-write) and persisted in the ledger
// before it is acknowledged; so are voucher codes, configuration changes,
// blocks and the rvmId.
package daemon
