package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/service"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// TestConsoleBesideTheLoop: the daemon serves the technician console next
// to its loop; a refused login and the lockout reach the fleet as audit
// events over a real mosquitto, and "register" asks the operator again.
func TestConsoleBesideTheLoop(t *testing.T) {
	b := testbroker.Start(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "rvmd.db")
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := service.HashPIN("4711")
	if err := led.SetPIN(context.Background(), h, time.Now()); err != nil {
		t.Fatal(err)
	}
	led.Close()
	f := newFleet(t, b.URL())
	cfg := config.Default()
	cfg.Serial, cfg.ConsoleLockout = serial, time.Hour
	ps, _ := catalog.Parse(sample.JSON())
	cat, _ := catalog.New(1, ps)
	sock := filepath.Join(dir, "rvmd.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DBPath: db, SimState: db + ".sim", Catalog: cat, MQTT: b.URL(), Seed: 1,
			Service: sock, ServiceRequired: true})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if _, err := os.Stat(sock); err == nil {
			t.Errorf("socket %s left behind after the daemon stopped", sock)
		}
	}()
	f.waitEvent(envelope.KindRegistration)

	var c *wire.Conn
	deadline := time.Now().Add(90 * time.Second)
	for c == nil {
		if c, err = wire.Dial(sock, time.Second); err != nil {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	defer c.Close()
	if r, err := c.Do(wire.Request{Cmd: "login", PIN: "4711"}); err != nil || !r.OK {
		t.Fatalf("login = %+v, %v", r, err)
	}
	if r, err := c.Do(wire.Request{Cmd: "register"}); err != nil || !r.OK {
		t.Errorf("register = %+v, %v; want ok", r, err)
	}
	ev := f.waitEvent(envelope.KindAudit)
	if !strings.Contains(string(ev.Body), `"action":"login"`) || ev.Machine != serial {
		t.Errorf("first audit event = %s from %s; want the login", ev.Body, ev.Machine)
	}
	f.waitEvent(envelope.KindRegistration) // asked again
	for i := 0; i < 5; i++ {
		c2, err := wire.Dial(sock, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c2.Do(wire.Request{Cmd: "login", PIN: "0000"})
		c2.Close()
	}
	for {
		ev := f.waitEvent(envelope.KindAudit)
		if strings.Contains(string(ev.Body), `"action":"lockout"`) {
			break
		}
	}
}
