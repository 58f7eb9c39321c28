package main

import (
	"bytes"
	"context"
	"errors"
	"github.com/deposit-rvm/rvm/internal/testlog"
	"io/fs"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/gateway/store"
)

func TestFailuresCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gw.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"ev-1", "ev-2"} {
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{{ID: id, Machine: "RVM-A", Seq: 1, Kind: "transaction", Body: []byte(`{}`), Forward: true, ReceivedAt: now}}}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkFailed(ctx, store.Failure{EventID: id, Machine: "RVM-A", Kind: "transaction", Reason: "refused", HTTPStatus: 422, Code: "TRS_PRODUCT_BAD_STATUS", LastTry: now}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	tests := []struct {
		args    []string
		wantErr bool
		want    string
	}{
		{[]string{"failures", "list", "-db", db}, false, "TRS_PRODUCT_BAD_STATUS"},
		{[]string{"failures", "retry", "ev-1", "-db", db}, false, "ev-1 requeued"},
		{[]string{"failures", "dismiss", "ev-2", "-db", db}, false, "ev-2 dismissed"},
		{[]string{"failures", "list", "-db", db}, false, "EVENT"},
		{[]string{"failures", "list", "-all", "-json", "-db", db}, false, `"status": "dismissed"`},
		{[]string{"failures", "retry", "ev-1", "-db", db}, true, ""},
		{[]string{"failures", "retry", "-db", db}, true, ""},
		{[]string{"failures", "frobnicate", "-db", db}, true, ""},
		{[]string{"failures", "purge", "-db", db}, false, "0 entries purged"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if (err != nil) != tt.wantErr || !strings.Contains(out.String(), tt.want) {
			t.Errorf("run(%q) = %v, %q; want error %v and output containing %q", tt.args, err, out.String(), tt.wantErr, tt.want)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"failures", "list", "-db", db}, &out, &out); err != nil || strings.Contains(out.String(), "ev-") {
		t.Errorf("open failures after retry and dismiss = %q, %v; want none", out.String(), err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-drs", ""}, {"-ack-every", "-1s"},
		{"-ack-every", "5s", "-ack-within", "2s"}} { // an ack cannot come sooner than the look for it
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "-db", filepath.Join(t.TempDir(), "x.db")), &out, &out); err == nil {
			t.Errorf("run(%q) = nil; want an error", args)
		}
	}
}

// -h is a request, answered with the usage (naming the subcommands) and
// exit 0; failures -h creates nothing.
func TestHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "failures list"},
		{[]string{"-help"}, "-api-token"},
		{[]string{"failures", "-h"}, "failures list"},
		{[]string{"failures", "list", "-h"}, "-db"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, &out, &out)
		if exitCode(err) != 0 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("run(%q) = %v (exit %d), %q; want exit 0 and usage with %q", tt.args, err, exitCode(err), out.String(), tt.want)
		}
	}
	if names, _ := filepath.Glob("*"); len(names) != 0 {
		t.Errorf("help created %q; want nothing", names)
	}
	if got := exitCode(errors.New("boom")); got != 1 {
		t.Errorf("exitCode(error) = %d; want 1", got)
	}
}

// The failures commands read an existing database only: a typo is an
// error naming the path, not a new empty database.
func TestFailuresNeedExistingDB(t *testing.T) {
	dir := t.TempDir()
	for _, verb := range [][]string{{"list"}, {"retry", "ev-1"}, {"dismiss", "ev-1"}, {"purge"}} {
		typo := filepath.Join(dir, "gatway.db")
		var out bytes.Buffer
		err := run(context.Background(), append(append([]string{"failures"}, verb...), "-db", typo), &out, &out)
		if err == nil || !strings.Contains(err.Error(), typo) {
			t.Errorf("failures %s -db %s = %v; want an error naming the path", verb[0], typo, err)
		}
		if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("failures %s created %s (%v)", verb[0], typo, err)
		}
	}
}

// Ctrl-C (a cancelled context) is a clean stop, even while the broker is
// unreachable; each failed connect is logged with its reason meanwhile.
func TestCtrlCWhileConnecting(t *testing.T) {
	sim, err := drssim.New(drssim.Options{Catalog: []drsapi.Product{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ts := httptest.NewServer(sim)
	defer ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := "tcp://" + ln.Addr().String()
	ln.Close()
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-mqtt", broker, "-drs", ts.URL, "-db", filepath.Join(t.TempDir(), "gw.db"), "-listen", "127.0.0.1:0"}, &logs, &logs)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "broker connect failed") || !strings.Contains(logs.String(), "connection refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed connect logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; exitCode(err) != 0 {
		t.Errorf("run() after Ctrl-C = %v; want a clean stop:\n%s", err, logs.String())
	}
}
