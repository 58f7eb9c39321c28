// Package daemon wires the controller daemon (rvmd run) together: the
// devices a [Rig] supplies (the Pi's board or the simulator; cmd/rvmd picks
// one, this package imports neither) under the controller's loop
// (machine.Loop), the ledger, the MQTT
// publisher (package telemetry) with its commands, heartbeats and retained
// status, and the outbox disk budget that blocks intake when the broker or
// the gateway (whose confirmations free the records, config key
// gatewayAcks) has been away too long.
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
//
// # Kiosk
//
// With Options.UI the daemon serves the customer's page (package kiosk) on
// that address: the controller's events (machine.Options.OnEvent) feed it,
// and its payout buttons come back as acts through [Daemon.Do]. The page is
// up while the machine boots (Do waits for the loop). On the simulated
// machine (a Rig that also has [SimHands]) it also serves /sim/ controls
// (insert a container, inject or clear a fault, open or close service
// mode) so a test can drive a session step by step with simulated
// customers off.
//
// # Technician console
//
// With Options.Service the daemon serves the technician console (package
// service) on that Unix socket: opened before the loop runs, served while
// it runs, stopped before it stops, its acts through [Daemon.Do]. On the
// simulated machine the rig's [SimHands] are the technician's hands (the
// reference mass, the bag swap, the jam taken out).
package daemon
