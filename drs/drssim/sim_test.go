package drssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/internal/clock"
)

func TestSurvivesRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drs.db")
	ctx := context.Background()
	catalog := loadCatalog(t)
	start := func() (*drssim.Server, *drs.Client, func()) {
		sim, err := drssim.New(drssim.Options{Catalog: catalog, DB: db, Clock: clock.NewFake(t0), Seed: 1})
		if err != nil {
			t.Fatalf("New(%s): %v", db, err)
		}
		srv := httptest.NewServer(sim)
		return sim, drs.New(srv.URL, "", &drs.Options{MaxAttempts: 1}), func() { srv.Close(); sim.Close() }
	}

	sim, c, stop := start()
	e := &env{sim: sim, c: c, rvmID: ""}
	id, err := c.RegisterMachine(ctx, drsapi.MachineUpdate{SerialNumber: "SN-1", DrsCpNo: "1", Bins: []drsapi.BinPost{}})
	if err != nil {
		t.Fatal(err)
	}
	e.rvmID = id
	tx := e.tx(uuidN(1))
	v, err := c.PostTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	buffered, err := c.VoucherBuffer(ctx, id, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: v.ID, RedeemType: 1, RedeemDate: "2026-01-06T10:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PostBagReplacement(ctx, e.replacement(uuidN(50))); err != nil {
		t.Fatal(err)
	}
	before, _ := sim.Transactions(ctx)
	stop()

	sim, c, stop = start()
	defer stop()
	if ok, err := c.MachineExists(ctx, id); !ok || err != nil {
		t.Errorf("MachineExists after restart = %v, %v; want true", ok, err)
	}
	if _, err := c.PostTransaction(ctx, tx); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("PostTransaction after restart = %v; want ErrAlreadyDelivered", err)
	}
	if err := c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: v.ID, RedeemType: 1, RedeemDate: "2026-01-06T11:00:00Z"}); !errors.Is(err, drs.ErrAlreadyRedeemed) {
		t.Errorf("RedeemVoucher after restart = %v; want ErrAlreadyRedeemed", err)
	}
	if err := c.PostBagReplacement(ctx, e.replacement(uuidN(50))); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("PostBagReplacement after restart = %v; want ErrAlreadyDelivered", err)
	}
	// A code buffered before the restart is still the machine's.
	if err := c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: buffered[0].ID, RedeemType: 1, RedeemDate: "2026-01-06T11:00:00Z"}); err != nil {
		t.Errorf("RedeemVoucher(buffered before restart) = %v; want nil", err)
	}
	// The same seed after a restart does not hand out the same codes.
	again, err := c.VoucherBuffer(ctx, id, 5)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{v.ID: true}
	for _, b := range buffered {
		old[b.ID] = true
	}
	for _, b := range again {
		if old[b.ID] {
			t.Errorf("code %s handed out before and after the restart", b.ID)
		}
	}
	after, err := sim.Transactions(ctx)
	if err != nil || len(after) != 1 || string(after[0]) != string(before[0]) {
		t.Errorf("Transactions after restart = %s, %v; want %s", after, err, before)
	}
}

func TestOutageWindow(t *testing.T) {
	e := newEnv(t, func(o *drssim.Options) {
		o.Outage = drssim.Outage{From: t0.Add(10 * time.Second), To: t0.Add(70 * time.Second)}
	})
	steps := []struct {
		advance    time.Duration
		status     int
		retryAfter string
	}{
		{0, 200, ""},
		{10 * time.Second, 503, "60"},
		{29500 * time.Millisecond, 503, "31"},
		{30499 * time.Millisecond, 503, "1"},
		{time.Millisecond, 200, ""},
	}
	for _, s := range steps {
		e.clk.Advance(s.advance)
		req, _ := http.NewRequest("HEAD", e.srv.URL+"/machine/"+e.rvmID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		at := e.clk.Now().Sub(t0)
		if resp.StatusCode != s.status || resp.Header.Get("Retry-After") != s.retryAfter {
			t.Errorf("HEAD at +%v = %d Retry-After %q; want %d %q", at, resp.StatusCode, resp.Header.Get("Retry-After"), s.status, s.retryAfter)
		}
	}
	// The /_sim/ pages stay up through an outage.
	e.clk.Set(t0.Add(20 * time.Second))
	status, body := e.do(t, "GET", "/_sim/stats", nil)
	var st drssim.Stats
	if err := json.Unmarshal(body, &st); status != 200 || err != nil {
		t.Fatalf("GET /_sim/stats during an outage = %d, %v; want 200", status, err)
	}
	if st.Faults["outage"] != 3 || st.Requests["HEAD /machine/{id} 503"] != 3 || st.Requests["HEAD /machine/{id} 200"] != 2 {
		t.Errorf("stats = faults %v, requests %v; want 3 outage 503s and 2 200s", st.Faults, st.Requests)
	}
}

func TestClientRidesOutTheOutage(t *testing.T) {
	// An outage from now on, longer than the client's own backoff: the
	// client waits what Retry-After says (its sleep moves the fake clock).
	clk := clock.NewFake(t0)
	srv := bare(t, drssim.Options{
		Catalog: loadCatalog(t), Clock: clk, Token: token,
		Outage: drssim.Outage{From: t0, To: t0.Add(45 * time.Second)},
	})
	var waits []time.Duration
	c := drs.New(srv.URL, token, &drs.Options{MaxAttempts: 3, MaxBackoff: time.Minute, Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		clk.Advance(d)
		return nil
	}})
	id, err := c.RegisterMachine(context.Background(), drsapi.MachineUpdate{SerialNumber: "SN-1", DrsCpNo: "1", Bins: []drsapi.BinPost{}})
	if err != nil || id == "" {
		t.Fatalf("RegisterMachine through an outage = %q, %v; want success after the window", id, err)
	}
	if len(waits) != 1 || waits[0] != 45*time.Second {
		t.Errorf("waits = %v; want one of 45s (the Retry-After)", waits)
	}
}

// bare starts a simulator with exactly o, on a loopback server.
func bare(t *testing.T, o drssim.Options) *httptest.Server {
	t.Helper()
	sim, err := drssim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return srv
}

// faultPattern sends n requests to a fresh simulator and returns which
// were answered 503.
func faultPattern(t *testing.T, seed uint64, rate float64, n int) string {
	srv := bare(t, drssim.Options{Catalog: loadCatalog(t), ErrorRate: rate, Seed: seed})
	var b strings.Builder
	for range n {
		resp, err := http.Get(srv.URL + "/product/5900449000287")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			b.WriteByte('.')
		case 503:
			b.WriteByte('X')
		default:
			t.Fatalf("GET /product/{ean} = %d; want 200 or 503", resp.StatusCode)
		}
	}
	return b.String()
}

func TestErrorRateIsSeeded(t *testing.T) {
	a := faultPattern(t, 7, 0.3, 40)
	b := faultPattern(t, 7, 0.3, 40)
	if a != b {
		t.Errorf("error pattern with seed 7 = %s then %s; want the same", a, b)
	}
	if n := strings.Count(a, "X"); n == 0 || n == len(a) {
		t.Errorf("error pattern %s; want some 503s and some 200s at rate 0.3", a)
	}
	if all := faultPattern(t, 7, 0, 10); all != strings.Repeat(".", 10) {
		t.Errorf("error pattern at rate 0 = %s; want no 503", all)
	}
}

func TestLatencyUsesSleep(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	srv := bare(t, drssim.Options{Catalog: loadCatalog(t), Latency: 250 * time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	}})
	for _, path := range []string{"/product/5900449000287", "/_sim/stats"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 1 || slept[0] != 250*time.Millisecond {
		t.Errorf("latency sleeps = %v; want one of 250ms (none for /_sim/)", slept)
	}
}

func TestParseOutage(t *testing.T) {
	start := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want drssim.Outage
		err  bool
	}{
		{"", drssim.Outage{}, false},
		{"30s-90s", drssim.Outage{From: start.Add(30 * time.Second), To: start.Add(90 * time.Second)}, false},
		{"0s-1m30s", drssim.Outage{From: start, To: start.Add(90 * time.Second)}, false},
		{"2026-01-05T09:00:00Z-2026-01-05T09:05:00Z", drssim.Outage{From: start.Add(time.Hour), To: start.Add(65 * time.Minute)}, false},
		{"2026-01-05T10:00:00+01:00-2026-01-05T10:05:00+01:00", drssim.Outage{From: start.Add(time.Hour), To: start.Add(65 * time.Minute)}, false},
		{"90s-30s", drssim.Outage{}, true},
		{"30s", drssim.Outage{}, true},
		{"soon-later", drssim.Outage{}, true},
		{"2026-01-05T09:00:00Z-90s", drssim.Outage{}, true},
	}
	for _, tt := range tests {
		got, err := drssim.ParseOutage(tt.in, start)
		if (err != nil) != tt.err || !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
			t.Errorf("ParseOutage(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, drssim.ErrOutage) {
			t.Errorf("ParseOutage(%q) error %v does not wrap ErrOutage", tt.in, err)
		}
	}
}

func TestParseCatalog(t *testing.T) {
	tests := []struct {
		in    string
		n     int
		error string
	}{
		{`[{"ean":"1","name":"a","deposit":{"amount":0.5}}]`, 1, ""},
		{`{"pageNo":0,"data":[{"ean":"1","name":"a","deposit":{"amount":0.5}},{"ean":"2","name":"b","deposit":{"amount":1}}]}`, 2, ""},
		{`[{"name":"nameless","deposit":{"amount":0.5}}]`, 0, `("nameless") has no ean`},
		{`[{"ean":"1","name":"free"}]`, 0, `product 1 ("free") has no deposit`},
		{`[{"ean":"1","name":"a","deposit":{"amount":0.5}},{"ean":"1","name":"b","deposit":{"amount":0.5}}]`, 0, "ean 1 twice"},
		{`[{"ean":"1","name":"a","deposit":{"amount":0.5},"updatedDate":"yesterday"}]`, 0, `date "yesterday"`},
		{`{"pageNo":0}`, 0, "neither an array nor a page"},
		{`nonsense`, 0, "bad catalogue"},
	}
	for _, tt := range tests {
		ps, err := drssim.ParseCatalog([]byte(tt.in))
		if tt.error != "" {
			if err == nil || !strings.Contains(err.Error(), tt.error) || !errors.Is(err, drssim.ErrCatalog) {
				t.Errorf("ParseCatalog(%q) = %v; want an ErrCatalog error containing %q", tt.in, err, tt.error)
			}
			continue
		}
		if err != nil || len(ps) != tt.n {
			t.Errorf("ParseCatalog(%q) = %d products, %v; want %d", tt.in, len(ps), err, tt.n)
			continue
		}
		if ps[0].ID == "" || ps[0].UpdatedDate != "2025-10-01T00:00:00Z" {
			t.Errorf("ParseCatalog(%q)[0] = %+v; want a derived id and the default dates", tt.in, ps[0])
		}
	}
	a, _ := drssim.ParseCatalog([]byte(tests[0].in))
	b, _ := drssim.ParseCatalog([]byte(tests[0].in))
	if a[0].ID != b[0].ID {
		t.Errorf("derived ids %s and %s differ; want them stable", a[0].ID, b[0].ID)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []drssim.Options{{ErrorRate: 1.5}, {ErrorRate: -0.1}, {Latency: -time.Second}, {PrintType: 2}} {
		if s, err := drssim.New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) = nil error; want one", o)
		}
	}
	if _, err := drssim.New(drssim.Options{DB: filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")}); err == nil {
		t.Errorf("New with a DB in a missing directory = nil error; want one")
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	sim, err := drssim.New(drssim.Options{Catalog: loadCatalog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/_sim/transactions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /_sim/transactions = %d; want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v; want nil", err)
	}
}
