// Package envelope fixes what travels over MQTT between a machine and the
// RVM cloud (docs/interfaces.md, "MQTT"): the topics, the event [Envelope], the
// retained [Status], the [Command] / [Reply] pair, and the gateway's [Ack].
// A "containers" batch ([ContainerBatch]) travels as rows ([BatchWire]):
// the session's EANs once and five integers a container.
//
// Both ends import it: the machine's publisher (package telemetry) and the
// gateway's consumer (package gateway), so the two cannot drift apart.
package envelope
