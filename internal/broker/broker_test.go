package broker_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/internal/broker"
)

const patience = 30 * time.Second

func connect(t *testing.T, url, id string) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetConnectTimeout(patience))
	tok := c.Connect()
	if !tok.WaitTimeout(patience) {
		t.Fatal("connect: no answer")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func TestRoundTrip(t *testing.T) {
	url, stop, err := broker.Start(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("Start() = %v; want nil", err)
	}
	defer stop()
	if !strings.HasPrefix(url, "tcp://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("Start() url = %q; want tcp://127.0.0.1:PORT with the bound port", url)
	}

	pub, err := connect(t, url, "rvm-A1")
	if err != nil {
		t.Fatal(err)
	}
	// A retained message reaches a subscriber that comes later.
	if tok := pub.Publish("rvm/A1/status", 1, true, `{"online":true}`); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	sub, err := connect(t, url, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if tok := sub.Subscribe("rvm/+/status", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case s := <-got:
		if s != `{"online":true}` {
			t.Errorf("retained status = %s; want {\"online\":true}", s)
		}
	case <-time.After(patience):
		t.Fatal("no retained status")
	}

	if err := stop(); err != nil {
		t.Errorf("stop() = %v; want nil", err)
	}
	if err := stop(); err != nil {
		t.Errorf("second stop() = %v; want nil", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(url, "tcp://")); err == nil {
		c.Close()
		t.Errorf("dial %s after stop succeeded; want refused", url)
	}
}

func TestStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, stop, err := broker.Start(ctx, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	addr := strings.TrimPrefix(url, "tcp://")
	// Stopping runs on the broker's goroutine once ctx ends. The port is
	// free again once it has: check by listening on it, not by dialling
	// (mochi races a connection being set up against Close).
	deadline := time.Now().Add(patience)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker still listening on %s after its context ended", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartBadAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := broker.Start(context.Background(), l.Addr().String(), nil); err == nil || !strings.HasPrefix(err.Error(), "broker: ") {
		t.Errorf("Start(%q) on a taken port = %v; want a broker: error", l.Addr(), err)
	}
}
