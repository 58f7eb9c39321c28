// Package daemon wires the controller daemon (rvmd run) together: the
// simulated or real machine under one event loop, the ledger, the MQTT
// publisher (package telemetry) with its commands, heartbeats and retained
// status, and the outbox disk budget that blocks intake when the broker has
// been away too long.
//
// # Commands
//
// Commands from the fleet arrive on the publisher's worker goroutine;
// [Daemon.HandleCommand] hands each to the loop as an act and waits for its
// result, so the controller is only ever touched by the loop. A catalogue
// update is applied atomically (copy-on-write) and persisted in the ledger
// before it is acknowledged; so are voucher codes, configuration changes,
// blocks and the rvmId.
//
// # Kiosk
//
// With Options.UI the daemon serves the customer's page (package kiosk) on
// that address: the controller's events (machine.Options.OnEvent) feed it,
// and its payout buttons come back as acts through [Daemon.Do]. On the
// simulated machine it also serves /sim/ controls (insert a container,
// inject or clear a fault, open or close service mode) so a test can drive
// a session step by step with simulated customers off.
package daemon
