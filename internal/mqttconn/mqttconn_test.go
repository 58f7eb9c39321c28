package mqttconn

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
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
