package main

import (
	"context"
	"github.com/deposit-rvm/rvm/internal/testlog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

const catalogFile = "../../drs/drssim/testdata/catalog.json"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// start runs the command in the background until the test ends, and
// returns its address and stderr.
func start(t *testing.T, args []string, vars map[string]string) (string, *testlog.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testlog.Buffer{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, env(vars), stderr, func(a string) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run after cancel = %v; want nil", err)
		}
	})
	select {
	case addr := <-addrc:
		return addr, stderr
	case err := <-done:
		done <- err
		t.Fatalf("run = %v before listening", err)
		return "", nil
	}
}

func get(t *testing.T, addr, path, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServesUntilCancelled(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drs.db")
	addr, stderr := start(t, []string{"-listen", "127.0.0.1:0", "-catalog", catalogFile, "-seed", "5"},
		map[string]string{"RVM_DB": db, "RVM_DRS_TOKEN": "envtok"})
	if want := "drs-sim listening on http://" + addr + "\n"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr = %q; want it to start with %q", stderr.String(), want)
	}
	tests := []struct {
		path, tok string
		want      int
	}{
		{"/product", "", 401},
		{"/product", "envtok", 200},
		{"/product/5900449000287", "envtok", 200},
		{"/product/5900541000178", "envtok", 404}, // only in the bundled sample
		{"/_sim/transactions", "", 401},
		{"/_sim/transactions", "envtok", 200},
		{"/_sim/stats", "", 401},
	}
	for _, tt := range tests {
		if got := get(t, addr, tt.path, tt.tok); got != tt.want {
			t.Errorf("GET %s with token %q = %d; want %d", tt.path, tt.tok, got, tt.want)
		}
	}
}

func TestRunDefaultsToTheBundledSample(t *testing.T) {
	addr, stderr := start(t, nil, map[string]string{"RVM_LISTEN": "127.0.0.1:0"})
	if got := get(t, addr, "/product/5900541000178", ""); got != 200 {
		t.Errorf("GET a sample product = %d; want 200", got)
	}
	if !strings.Contains(stderr.String(), "from the bundled sample catalogue") {
		t.Errorf("stderr = %q; want it to name the bundled sample", stderr.String())
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-catalog", "nope.json"}, "nope.json"},
		{[]string{"-catalog", catalogFile, "-outage", "soon"}, "outage"},
		{[]string{"-catalog", catalogFile, "-error-rate", "2"}, "error rate"},
		{[]string{"-catalog", catalogFile, "extra"}, "unexpected arguments"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr testlog.Buffer
		err := run(context.Background(), tt.args, env(nil), &stderr, nil)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
			t.Errorf("run(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
