// Package broker runs an embedded MQTT broker (mochi-mqtt) for the
// one-command demo (`make demo`), so the machine, the gateway and their
// operator can talk without installing mosquitto.
//
// It lets every client in and keeps nothing on disk: it is a demo and test
// convenience, not the fleet's broker (the brief names a clustered EMQX or
// HiveMQ, or mosquitto for one node, with per-machine credentials and an
// ACL; see package telemetry).
//
// # Usage
//
//	url, stop, err := broker.Start(ctx, "127.0.0.1:0", logger)
//	// url is tcp://127.0.0.1:PORT; hand it to rvmd and rvm-gateway
//	defer stop()
//
// The broker also stops when ctx ends.
package broker
