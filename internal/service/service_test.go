package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/service/wire"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

func TestPIN(t *testing.T) {
	h, err := HashPIN("4711")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPIN("4711")
	if h == h2 {
		t.Errorf("HashPIN(4711) twice = the same hash %q; want a fresh salt each time", h)
	}
	tests := []struct {
		pin  string
		want bool
	}{{"4711", true}, {"4712", false}, {"", false}, {"47110", false}}
	for _, tt := range tests {
		if got, err := CheckPIN(h, tt.pin); got != tt.want || err != nil {
			t.Errorf("CheckPIN(hash of 4711, %q) = %v, %v; want %v, nil", tt.pin, got, err, tt.want)
		}
	}
	for _, bad := range []string{"123", "123456789", "12a4", "", " 1234"} {
		if _, err := HashPIN(bad); !errors.Is(err, ErrPINFormat) {
			t.Errorf("HashPIN(%q) error = %v; want ErrPINFormat", bad, err)
		}
	}
	if _, err := CheckPIN("md5$x", "1234"); err == nil {
		t.Errorf("CheckPIN(unknown format) = nil error; want an error")
	}
}

// noMachine stands for the loop when a test needs none: every act fails.
func noMachine(ctx context.Context, f func(ctx context.Context, c *machine.Controller) (any, error)) (any, error) {
	return nil, errors.New("no machine in this test")
}

type fixture struct {
	srv *Server
	led *ledger.Ledger
	clk *clock.Fake
}

func start(t *testing.T, pin string) fixture {
	t.Helper()
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, "rvmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	if pin != "" {
		h, err := HashPIN(pin)
		if err != nil {
			t.Fatal(err)
		}
		if err := led.SetPIN(context.Background(), h, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	srv, err := Listen(Options{Path: filepath.Join(dir, "rvmd.sock"), Do: noMachine, Ledger: led, Clock: clk, Lockout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	return fixture{srv, led, clk}
}

// serve runs srv until the test ends.
func serve(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func (f fixture) login(t *testing.T, pin string) wire.Reply {
	t.Helper()
	c, err := wire.Dial(f.srv.Path(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(wire.Request{Cmd: "login", PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSocketMode(t *testing.T) {
	f := start(t, "1234")
	fi, err := os.Stat(f.srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v; want a socket with 0600", fi.Mode())
	}
	if _, err := Listen(Options{Path: f.srv.Path(), Do: noMachine, Ledger: f.led}); err == nil {
		t.Errorf("Listen on a served socket = nil error; want 'another daemon serves'")
	}
}

func TestNoPINRefusesLogin(t *testing.T) {
	f := start(t, "")
	if r := f.login(t, "1234"); r.OK || r.Code != wire.CodeNoPIN {
		t.Errorf("login without a PIN set = %+v; want code %q", r, wire.CodeNoPIN)
	}
}

func TestCommandBeforeLogin(t *testing.T) {
	f := start(t, "1234")
	c, err := wire.Dial(f.srv.Path(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Do(wire.Request{Cmd: "service", Args: map[string]string{"mode": "on"}}); err != nil || r.OK || r.Code != wire.CodeLogin {
		t.Errorf("service on before login = %+v, %v; want code %q", r, err, wire.CodeLogin)
	}
}

func TestLockout(t *testing.T) {
	f := start(t, "1234")
	for i := 1; i <= 4; i++ {
		if r := f.login(t, "0000"); r.Code != wire.CodeBadPIN {
			t.Fatalf("wrong PIN %d = %+v; want code %q", i, r, wire.CodeBadPIN)
		}
	}
	if r := f.login(t, "0000"); r.Code != wire.CodeLocked {
		t.Fatalf("wrong PIN 5 = %+v; want code %q", r, wire.CodeLocked)
	}
	if r := f.login(t, "1234"); r.OK || r.Code != wire.CodeLocked {
		t.Errorf("right PIN while locked = %+v; want code %q", r, wire.CodeLocked)
	}
	f.clk.Advance(10*time.Minute - time.Second)
	if r := f.login(t, "1234"); r.OK {
		t.Errorf("right PIN a second before the lockout ends = %+v; want refused", r)
	}
	f.clk.Advance(time.Second)
	if r := f.login(t, "1234"); !r.OK {
		t.Errorf("right PIN after the lockout = %+v; want ok", r)
	}
	es, err := f.led.AuditLog(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		s := e.Action
		if !e.OK {
			s += " refused"
		}
		got = append(got, s)
	}
	want := "login refused,login refused,login refused,login refused,login refused,lockout,login refused,login refused,login"
	if strings.Join(got, ",") != want {
		t.Errorf("audit log = %s; want %s", strings.Join(got, ","), want)
	}
	var events int
	if err := f.led.DB().QueryRow(`SELECT count(*) FROM outbox WHERE kind = 'audit'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != len(es) {
		t.Errorf("%d audit events in the outbox; want one per audit entry (%d)", events, len(es))
	}
}

// BenchmarkCheckPIN is the cost of one login's PIN check (PBKDF2, pinIter
// rounds): what a guesser pays per try, and what a technician waits.
func BenchmarkCheckPIN(b *testing.B) {
	h, err := HashPIN("4711")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		CheckPIN(h, "4711")
	}
}

// restart stops f's server and serves the same ledger and clock again, as
// a restarted rvmd would.
func (f *fixture) restart(t *testing.T) {
	t.Helper()
	path := f.srv.Path()
	f.srv.Close()
	srv, err := Listen(Options{Path: path, Do: noMachine, Ledger: f.led, Clock: f.clk, Lockout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	f.srv = srv
}

// TestLockoutSurvivesRestart: restarting rvmd (or cutting its power) gives
// a guesser neither fresh tries nor an end to the lockout.
func TestLockoutSurvivesRestart(t *testing.T) {
	f := start(t, "1234")
	for i := 1; i <= 3; i++ {
		if r := f.login(t, "0000"); r.Code != wire.CodeBadPIN {
			t.Fatalf("wrong PIN %d = %+v; want code %q", i, r, wire.CodeBadPIN)
		}
	}
	f.restart(t)
	if r := f.login(t, "0000"); r.Code != wire.CodeBadPIN || !strings.Contains(r.Error, "4 of 5") {
		t.Fatalf("wrong PIN after a restart = %+v; want the 4th of 5", r)
	}
	if r := f.login(t, "0000"); r.Code != wire.CodeLocked {
		t.Fatalf("5th wrong PIN = %+v; want code %q", r, wire.CodeLocked)
	}
	f.restart(t)
	if r := f.login(t, "1234"); r.OK || r.Code != wire.CodeLocked {
		t.Errorf("right PIN after a restart while locked = %+v; want code %q", r, wire.CodeLocked)
	}
	f.clk.Advance(10 * time.Minute)
	f.restart(t)
	if r := f.login(t, "1234"); !r.OK {
		t.Errorf("right PIN after the lockout = %+v; want ok", r)
	}
}
