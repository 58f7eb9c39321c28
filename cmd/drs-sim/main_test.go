package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const catalogFile = "../../drs/drssim/testdata/catalog.json"

// syncBuffer is an io.Writer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunServesUntilCancelled(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drs.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-catalog", catalogFile, "-seed", "5"},
			env(map[string]string{"RVM_DB": db, "RVM_DRS_TOKEN": "envtok"}), &stderr, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run = %v before listening", err)
	}
	if want := "drs-sim listening on http://" + addr + "\n"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr = %q; want it to start with %q", stderr.String(), want)
	}
	get := func(path, tok string) int {
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
	tests := []struct {
		path, tok string
		want      int
	}{
		{"/product", "", 401},
		{"/product", "envtok", 200},
		{"/product/5900449000287", "envtok", 200},
		{"/_sim/transactions", "", 200},
	}
	for _, tt := range tests {
		if got := get(tt.path, tt.tok); got != tt.want {
			t.Errorf("GET %s with token %q = %d; want %d", tt.path, tt.tok, got, tt.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v; want nil", err)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-listen", "127.0.0.1:0"}, "-catalog is required"},
		{[]string{"-catalog", "nope.json"}, "nope.json"},
		{[]string{"-catalog", catalogFile, "-outage", "soon"}, "outage"},
		{[]string{"-catalog", catalogFile, "-error-rate", "2"}, "error rate"},
		{[]string{"-catalog", catalogFile, "extra"}, "unexpected arguments"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr syncBuffer
		err := run(context.Background(), tt.args, env(nil), &stderr, nil)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
			t.Errorf("run(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
