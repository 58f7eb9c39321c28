// Package mqttconn opens an MQTT client's plain TCP connection with
// buffered reads, for paho.
//
// paho reads a packet a few bytes at a time: its first byte, its length a
// byte at a time, then its body, each through io.ReadFull on the bare
// connection. On plain TCP that is a system call each: three for a 4-byte
// PUBACK, four for a 700-byte PUBLISH. A publisher with 64 publishes in
// flight gets their PUBACKs in a few segments, and a consumer gets its
// messages in bursts; through a buffer one read takes what has arrived.
// Reads still return as soon as any byte is there, so nothing waits
// longer; writes are untouched (paho writes a packet in one call).
//
// TLS needs none of this (crypto/tls reads whole records into its own
// buffer), and WebSocket and unix-socket brokers keep paho's own dialing:
// [Use] sets the opener only for tcp:// and mqtt:// brokers.
//
// # Usage
//
//	o := mqtt.NewClientOptions().AddBroker(url)
//	mqttconn.Use(o, url)
package mqttconn
