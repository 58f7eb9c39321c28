package telemetry

import (
	"context"
	"net"
	"testing"
)

// TestCancelWhileConnecting: Run is cancelled while its CONNECT waits for a
// broker that accepted the TCP connection and never answers. Run returns at
// once; the attempt it left behind is cleaned up when paho gives up on it
// (here: the broker hangs up), without touching the nil client the
// cancelled connect returned. It used to panic there.
func TestCancelWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	p, err := NewPublisher(testDB(t), Options{Broker: "tcp://" + ln.Addr().String(), Serial: "A1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	first := <-conns // a CONNECT is on its way; no CONNACK will come
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run(cancelled while connecting) = %v; want nil", err)
	}
	// The broker hangs up on every connection it took, so paho's attempt
	// ends now rather than after its timeout.
	first.Close()
	go func() {
		for c := range conns {
			c.Close()
		}
	}()
	p.abandoned.Wait() // the clean-up ran
}
