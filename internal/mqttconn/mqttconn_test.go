package mqttconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/deposit-rvm/rvm/internal/testbroker"
)

func TestUse(t *testing.T) {
	for _, tc := range []struct {
		broker string
		ours   bool
	}{
		{"tcp://127.0.0.1:1883", true},
		{"mqtt://broker.example:1883", true},
		{"ssl://broker.example:8883", false}, // crypto/tls buffers its records itself
		{"tls://broker.example:8883", false},
		{"ws://broker.example/mqtt", false},
		{"unix:///run/mosquitto.sock", false},
		{"::not a url", false},
	} {
		o := Use(mqtt.NewClientOptions(), tc.broker)
		if got := o.CustomOpenConnectionFn != nil; got != tc.ours {
			t.Errorf("Use(%q): our opener set = %v, want %v", tc.broker, got, tc.ours)
		}
	}
}

// TestOneReadTakesABurst: 64 PUBACKs written at once reach paho's packet
// reader through one read of the socket; without the buffer it takes three
// a packet.
func TestOneReadTakesABurst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var burst bytes.Buffer
	for id := range uint16(64) {
		ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
		ack.MessageID = id + 1
		if err := ack.Write(&burst); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(burst.Bytes()) // one segment on loopback
		var b [1]byte
		c.Read(b[:]) // until the client is done
	}()
	u, _ := url.Parse("tcp://" + ln.Addr().String())
	nc, err := Open(u, *mqtt.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for id := range uint16(64) {
		p, err := packets.ReadPacket(nc)
		if err != nil {
			t.Fatalf("packet %d: %v", id+1, err)
		}
		ack, ok := p.(*packets.PubackPacket)
		if !ok || ack.MessageID != id+1 {
			t.Fatalf("packet %d: got %v", id+1, p)
		}
		if id == 0 {
			if got, want := nc.(*conn).r.Buffered(), burst.Len()-4; got != want {
				t.Errorf("after the first PUBACK %d bytes are buffered, want the other %d: one read should take the burst", got, want)
			}
		}
	}
}

// TestThroughMosquitto: paho on our connection, both ways, against a real
// broker: every QoS 1 message arrives once, whole and in order, while
// PUBACKs and PUBLISHes share the buffered reads.
func TestThroughMosquitto(t *testing.T) {
	b := testbroker.Start(t)
	const n = 2000
	got := make(chan string, n)
	sub := connect(t, b.URL(), "sub", func(o *mqtt.ClientOptions) {
		o.SetOrderMatters(true)
	})
	if tok := sub.Subscribe("mqttconn/test", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connect(t, b.URL(), "pub", nil)
	toks := make([]mqtt.Token, 0, n)
	for i := range n {
		toks = append(toks, pub.Publish("mqttconn/test", 1, false, fmt.Sprintf("%05d %s", i, bytes.Repeat([]byte{'x'}, i%700))))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	for i := range n {
		select {
		case m := <-got:
			if want := fmt.Sprintf("%05d %s", i, bytes.Repeat([]byte{'x'}, i%700)); m != want {
				t.Fatalf("message %d: got %.20q (%d bytes), want %.20q (%d bytes)", i, m, len(m), want, len(want))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("message %d of %d never came", i, n)
		}
	}
}

func connect(t *testing.T, broker, id string, more func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("mqttconn-" + id).SetAutoReconnect(false)
	if more != nil {
		more(o)
	}
	c := mqtt.NewClient(Use(o, broker))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// pair returns the two ends of a loopback TCP connection: the client end
// through our conn (its socket writes counted), the server end bare.
func pair(t *testing.T, writeTimeout time.Duration) (*conn, *countingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { srv.Close() })
	cc := &countingConn{Conn: raw}
	c := newConn(cc, writeTimeout)
	t.Cleanup(func() { c.Close() })
	return c, cc, srv
}

// Everything written before Close reaches the peer, in order, and small
// writes share system calls.
func TestWritesKeepOrderAndCloseFlushes(t *testing.T) {
	c, cc, srv := pair(t, 5*time.Second)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(srv)
		got <- b
	}()
	const n = 10000
	for i := range n {
		p := fmt.Appendf(nil, "%06d,", i)
		want.Write(p)
		if k, err := c.Write(p); err != nil || k != len(p) {
			t.Fatalf("write %d: %d, %v", i, k, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("peer read %d bytes, want %d (%.40q...)", len(b), want.Len(), b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer never saw the end")
	}
	if w := cc.writes.Load(); w >= n {
		t.Errorf("%d writes reached the socket for %d small ones: none shared a call", w, n)
	}
	t.Logf("%d writes in %d system calls", n, cc.writes.Load())
}

// A peer that resets the connection: a later Write returns the error, and
// reads fail too, so paho's reader sees the loss.
func TestWriteErrorSurfaces(t *testing.T) {
	c, _, srv := pair(t, 5*time.Second)
	srv.(*net.TCPConn).SetLinger(0)
	srv.Close() // RST
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write(bytes.Repeat([]byte{'x'}, 1024))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding for 10 s")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, rerr := c.Read(make([]byte, 1)); rerr == nil {
		t.Errorf("read after the write error %v succeeded", err)
	}
}

// A peer that stops reading: Writes fill the socket and the queue, then
// wait; Close still returns, and the waiting Write with it.
func TestCloseReturnsWhenThePeerIsStuck(t *testing.T) {
	c, _, _ := pair(t, 0) // no write timeout: only Close can end the wait
	errc := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte{'x'}, 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
	}()
	// Wait until the writer is held by maxPending (the socket is full).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		full := len(c.pending) >= maxPending
		c.mu.Unlock()
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue never filled")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a peer that does not read")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("the held Write returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held Write never returned")
	}
}
