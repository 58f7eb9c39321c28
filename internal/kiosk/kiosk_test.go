package kiosk_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/internal/kiosk"
	"github.com/deposit-rvm/rvm/machine"
)

func TestSnapshot(t *testing.T) {
	coke := machine.ContainerDecided{ID: 1, Status: machine.StatusAccepted, Deposit: 50, EAN: "5900449000287", Name: "Coca-Cola 0,5 L"}
	pulled := machine.ContainerDecided{ID: 1, Status: machine.StatusRejected, Cause: 1, Why: machine.WhyPulledBack, EAN: "5900449000287", Name: "Coca-Cola 0,5 L"}
	full := machine.ContainerDecided{ID: 2, Status: machine.StatusRejected, Cause: 6, Why: machine.WhyNotEmpty, EAN: "5900449000287"}
	tests := []struct {
		name   string
		events []machine.Event
		want   kiosk.Snapshot
	}{
		{"before the controller speaks", nil, kiosk.Snapshot{State: machine.StateOutOfOrder, Containers: []kiosk.Container{}}},
		{"a session", []machine.Event{machine.StateChanged{State: machine.StateReady}, coke, machine.SessionTotal{Total: 50, Count: 1}, full},
			kiosk.Snapshot{State: machine.StateReady, Session: true, Total: 50, Count: 1, Containers: []kiosk.Container{
				{ID: 1, Status: "accepted", Deposit: 50, EAN: "5900449000287", Name: "Coca-Cola 0,5 L"},
				{ID: 2, Status: "rejected", Cause: 6, Why: "not-empty", EAN: "5900449000287"}}}},
		{"pulled back replaces its container", []machine.Event{coke, pulled},
			kiosk.Snapshot{State: machine.StateOutOfOrder, Session: true, Containers: []kiosk.Container{
				{ID: 1, Status: "rejected", Cause: 1, Why: "pulled-back", EAN: "5900449000287", Name: "Coca-Cola 0,5 L"}}}},
		{"ended", []machine.Event{coke, machine.SessionTotal{Total: 50, Count: 1}, machine.SessionEnded{Payout: "voucher", Total: 50, Voucher: "V1"}},
			kiosk.Snapshot{State: machine.StateOutOfOrder, Containers: []kiosk.Container{}}},
		{"service", []machine.Event{machine.StateChanged{State: machine.StateService}},
			kiosk.Snapshot{State: machine.StateService, Containers: []kiosk.Container{}, Service: &kiosk.Service{
				Blocked: []string{"service"}, BagID: "bag-1", BagCount: 80, BagFillPct: 20, CatalogVer: 3, RvmID: "rvm"}}},
	}
	for _, tt := range tests {
		k := kiosk.New(kiosk.Options{Status: func() machine.Status {
			return machine.Status{Blocked: []string{"service"}, BagID: "bag-1", BagCount: 80, BagFill: 0.2, CatalogVer: 3, RvmID: "rvm"}
		}})
		for _, e := range tt.events {
			k.Observe(e)
		}
		if got := k.Snapshot(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Snapshot() = %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

// readEvent reads one server-sent event: its name and data.
func readEvent(t testing.TB, r *bufio.Reader) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestEventStream: a page that connects mid-session gets the session at
// once, then each change.
func TestEventStream(t *testing.T) {
	k := kiosk.New(kiosk.Options{})
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	k.Observe(machine.StateChanged{State: machine.StateReady})
	k.Observe(machine.ContainerDecided{ID: 7, Status: machine.StatusAccepted, Deposit: 100, EAN: "5901012005012"})
	k.Observe(machine.SessionTotal{Total: 100, Count: 1})
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q; want text/event-stream", ct)
	}
	r := bufio.NewReader(resp.Body)
	name, data := readEvent(t, r)
	want := `{"state":"ready","session":true,"containers":[{"id":7,"status":"accepted","cause":0,"deposit":100,"ean":"5901012005012"}],"total":100,"count":1}`
	if name != "snapshot" || data != want {
		t.Errorf("first event = %s %s; want snapshot %s", name, data, want)
	}
	k.Observe(machine.ContainerDecided{ID: 8, Status: machine.StatusRejected, Cause: 3, EAN: ""})
	k.Observe(machine.SessionEnded{Payout: "donation", Total: 100, Voucher: "V-1"})
	for _, w := range []struct{ name, data string }{
		{"container", `{"id":8,"status":"rejected","cause":3,"deposit":0,"ean":""}`},
		{"ended", `{"payout":"donation","total":100,"voucher":"V-1"}`},
	} {
		if name, data := readEvent(t, r); name != w.name || data != w.data {
			t.Errorf("event = %s %s; want %s %s", name, data, w.name, w.data)
		}
	}
}

// actor stands in for the daemon's loop: it records that it was asked and
// answers with err, without a controller.
type actor struct {
	calls int
	err   error
}

func (a *actor) Do(ctx context.Context, f func(context.Context, *machine.Controller) (any, error)) (any, error) {
	a.calls++
	return nil, a.err
}

func TestFinishRequests(t *testing.T) {
	tests := []struct {
		body     string
		actorErr error
		code     int
		asked    bool
	}{
		{`{"payout":"donation"}`, nil, 200, true},
		{`{"payout":"voucher"}`, nil, 200, true},
		{`{"payout":"digital","phone":"600100200"}`, nil, 200, true},
		{`{"payout":"digital","phone":"60010020"}`, nil, 400, false},
		{`{"payout":"digital","phone":"6001002001"}`, nil, 400, false},
		{`{"payout":"digital","phone":"60010020a"}`, nil, 400, false},
		{`{"payout":"account","phone":"600100200"}`, nil, 200, true},
		{`{"payout":"account"}`, nil, 400, false},
		{`{"payout":"cash"}`, nil, 400, false},
		{`{"payout":"voucher","extra":1}`, nil, 400, false},
		{`not json`, nil, 400, false},
		{`{"payout":"voucher"}`, machine.ErrBusy, 409, true},
		{`{"payout":"voucher"}`, kiosk.ErrNoSession, 409, true},
		{`{"payout":"voucher"}`, errors.New("ledger: disk full"), 503, true},
	}
	for _, tt := range tests {
		a := &actor{err: tt.actorErr}
		srv := httptest.NewServer(kiosk.New(kiosk.Options{Actor: a}).Handler())
		resp, err := http.Post(srv.URL+"/api/finish", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tt.code || (a.calls > 0) != tt.asked {
			t.Errorf("POST /api/finish %s (machine says %v) = %d, machine asked %v; want %d, %v", tt.body, tt.actorErr, resp.StatusCode, a.calls > 0, tt.code, tt.asked)
		}
	}
}

// TestPage: the page, its test hooks and its assets come from the binary;
// nothing is loaded from elsewhere. The sim controls exist only when given.
func TestPage(t *testing.T) {
	srv := httptest.NewServer(kiosk.New(kiosk.Options{}).Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get("/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, id := range []string{"session-total", "machine-state", "btn-voucher", "btn-donate", "btn-digital", "btn-account", "phone-input", "lang-en", "lang-pl"} {
		if !strings.Contains(page, `data-testid="`+id+`"`) {
			t.Errorf("the page lacks data-testid %q", id)
		}
	}
	external := regexp.MustCompile(`(src|href)="(https?:)?//`)
	for _, path := range []string{"/", "/kiosk.js", "/kiosk.css"} {
		code, body := get(path)
		if code != 200 || external.MatchString(body) || strings.Contains(body, "@import") {
			t.Errorf("GET %s = %d, loads from elsewhere: %v", path, code, external.FindString(body))
		}
	}
	resp, err := http.Post(srv.URL+"/sim/step", "application/json", strings.NewReader(`{"op":"insert"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == 200 {
		t.Errorf("POST /sim/step without sim controls = %d; want refused", resp.StatusCode)
	}
}

// BenchmarkObserve: the cost the kiosk adds to the controller's loop per
// container (one event to one connected page).
func BenchmarkObserve(b *testing.B) {
	k := kiosk.New(kiosk.Options{})
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent(b, r) // subscribed: the snapshot came
	go io.Copy(io.Discard, r)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%100 == 0 {
			k.Observe(machine.SessionEnded{Payout: "voucher"}) // keep the session short, like a real one
		}
		k.Observe(machine.ContainerDecided{ID: int64(i + 2), Status: machine.StatusAccepted, Deposit: 50, EAN: "5900449000287", Name: "Coca-Cola 0,5 L"})
	}
}

func TestTouch(t *testing.T) {
	for _, tt := range []struct {
		actor *actor
		code  int
	}{
		{&actor{}, http.StatusNoContent},
		{&actor{err: context.DeadlineExceeded}, http.StatusServiceUnavailable},
		{nil, http.StatusServiceUnavailable},
	} {
		o := kiosk.Options{}
		if tt.actor != nil {
			o.Actor = tt.actor
		}
		srv := httptest.NewServer(kiosk.New(o).Handler())
		resp, err := http.Post(srv.URL+"/api/touch", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tt.code || (tt.actor != nil && tt.actor.calls != 1) {
			t.Errorf("POST /api/touch (actor %+v) = %d; want %d and the machine asked once", tt.actor, resp.StatusCode, tt.code)
		}
	}
}
