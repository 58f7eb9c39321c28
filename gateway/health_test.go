package gateway_test

import (
	"context"
	"github.com/deposit-rvm/rvm/internal/testlog"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway"
)

// closedURL returns a loopback URL of a port nothing listens on.
func closedURL(t *testing.T, scheme string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return scheme + "://" + addr
}

// /healthz says what is up: the broker and the operator, 503 while either
// is down.
func TestHealthz(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	r := e.startGateway(e.gatewayOptions(""))
	var h gateway.Health
	if code := call(t, "GET", r.api.URL+"/healthz", "", "", &h); code != http.StatusOK || h != (gateway.Health{OK: true, Broker: "connected", Operator: "ok"}) {
		t.Errorf("GET /healthz = %d %+v; want 200, broker connected, operator ok", code, h)
	}

	o := e.gatewayOptions(filepath.Join(t.TempDir(), "gw.db"))
	o.DRSURL = closedURL(t, "http")
	down := e.startGateway(o)
	h = gateway.Health{}
	if code := call(t, "GET", down.api.URL+"/healthz", "", "", &h); code != http.StatusServiceUnavailable || h.OK || !strings.HasPrefix(h.Operator, "down: ") || h.Broker != "connected" {
		t.Errorf("GET /healthz with the operator away = %d %+v; want 503, operator down with its reason", code, h)
	}
}

// A broker that cannot be reached is logged on each failed connect, with
// the reason, /healthz says so, and a stop while still connecting is clean.
func TestBrokerUnreachable(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	var logs testlog.Buffer
	o := e.gatewayOptions(filepath.Join(t.TempDir(), "gw.db"))
	o.MQTTURL = closedURL(t, "tcp")
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	g, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	api := httptest.NewServer(g.Handler())
	defer api.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, "two failed connects in the log", func() bool {
		return strings.Count(logs.String(), "broker connect failed") >= 2 && strings.Contains(logs.String(), "connection refused")
	})
	var h gateway.Health
	if code := call(t, "GET", api.URL+"/healthz", "", "", &h); code != http.StatusServiceUnavailable || h.OK ||
		!strings.HasPrefix(h.Broker, "down: ") || !strings.Contains(h.Broker, "connection refused") || h.Operator != "ok" {
		t.Errorf("GET /healthz without a broker = %d %+v; want 503, broker down: ...connection refused, operator ok", code, h)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() stopped while connecting = %v; want nil", err)
	}
}

// With an API token only /healthz is open: the dashboard and the metrics
// show the fleet and its money.
func TestTokenGuardsEverythingButHealth(t *testing.T) {
	e := newEnv(t, drssim.Options{})
	o := e.gatewayOptions("")
	o.APIToken = "secret"
	r := e.startGateway(o)
	tests := []struct {
		path, bearer string
		want         int
	}{
		{"/healthz", "", http.StatusOK},
		{"/", "", http.StatusUnauthorized},
		{"/", "wrong", http.StatusUnauthorized},
		{"/", "secret", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "secret", http.StatusOK},
		{"/api/machines", "", http.StatusUnauthorized},
		{"/api/machines", "secret", http.StatusOK},
		{"/transaction", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", r.api.URL+tt.path, nil)
		if tt.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tt.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s with token %q = %d; want %d", tt.path, tt.bearer, resp.StatusCode, tt.want)
		}
	}
}
