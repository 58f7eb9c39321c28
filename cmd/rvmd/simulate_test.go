package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateGolden: rvmd simulate, as a user runs it, prints exactly the
// golden output of every scenario in internal/simrun/testdata (the same files the
// cross-architecture check compares against), on the simulated devices
// (-hal sim) and through the real drivers on the simulated pins (-hal pins).
func TestSimulateGolden(t *testing.T) {
	files, _ := filepath.Glob("../../internal/simrun/testdata/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, hal := range []string{"sim", "pins"} {
		for _, f := range files {
			t.Run(hal+"/"+filepath.Base(f), func(t *testing.T) {
				simulateGolden(t, hal, f)
			})
		}
	}
}

func simulateGolden(t *testing.T, hal, f string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"simulate", "-hal", hal, "-scenario", f}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(strings.TrimSuffix(f, ".jsonl") + ".golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("rvmd simulate -hal %s %s differs from its golden file:\n%s", hal, f, out.String())
	}
}

// TestSimulateKeepsUnacknowledgedEvents: with -mqtt and the default
// temporary ledger, a broker that never acknowledges makes simulate give up
// after -drain-timeout; the ledger holding the events is kept, and stderr
// says where. Without -mqtt the temporary ledger is removed.
func TestSimulateKeepsUnacknowledgedEvents(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	scen := "../../internal/simrun/testdata/mixed.jsonl"
	tests := []struct {
		name     string
		args     []string
		wantErr  bool
		wantKept bool
	}{
		{"no broker", []string{"simulate", "-scenario", scen}, false, false},
		{"silent broker", []string{"simulate", "-scenario", scen, "-mqtt", "tcp://" + ln.Addr().String(), "-drain-timeout", "300ms"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run(%q) = %v; want error %v", tt.args, err, tt.wantErr)
			}
			left, _ := filepath.Glob(filepath.Join(tmp, "rvmd-simulate-*", "ledger.db"))
			if !tt.wantKept {
				if len(left) != 0 {
					t.Errorf("run(%q) left %q behind", tt.args, left)
				}
				return
			}
			if len(left) != 1 || !strings.Contains(stderr.String(), left[0]) {
				t.Fatalf("run(%q): ledgers kept %q, stderr %q; want one, named on stderr", tt.args, left, stderr.String())
			}
			n, err := pendingEvents(left[0])
			if err != nil || n == 0 {
				t.Errorf("kept ledger %s: %d pending events, %v; want the unacknowledged events", left[0], n, err)
			}
		})
	}
}
