// Package mqttconn opens an MQTT client's plain TCP connection for paho,
// with buffered reads and gathered writes.
//
// paho reads a packet a few bytes at a time: its first byte, its length a
// byte at a time, then its body, each through io.ReadFull on the bare
// connection. On plain TCP that is a system call each: three for a 4-byte
// PUBACK, four for a 700-byte PUBLISH. A publisher with 64 publishes in
// flight gets their PUBACKs in a few segments, and a consumer gets its
// messages in bursts; through a buffer one read takes what has arrived.
// Reads still return as soon as any byte is there, so nothing waits
// longer.
//
// paho writes each packet from its one writer goroutine with its own
// write call. Here a Write queues the bytes and a flusher goroutine writes
// everything that has gathered since its last write in one call: while one
// write is in the kernel, the next packets queue behind it. A lone packet
// goes at once, as before. What this changes for paho:
//   - Write returns before the bytes are on the socket. paho's delivery
//     guarantees never rested on that (a QoS 1 publish completes with its
//     PUBACK). After a failed write every later Write returns its error,
//     and reads fail at once, so paho sees the loss either way (not as a
//     closed connection, which paho takes for its own doing and ignores).
//   - paho's write deadlines are ignored; the flusher bounds each write to
//     the socket by the client's WriteTimeout instead.
//   - At most maxPending bytes wait; a Write beyond that waits for the
//     socket, as paho's own write would.
//   - Close gives the bytes already written (paho's DISCONNECT) up to
//     closeFlush to leave, then closes.
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
