package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/machine/ledger"
)

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodScenario = `{"op":"insert","ean":"5900449000287"}
{"op":"finish","payout":"voucher"}
`

// TestBadInput: each bad input fails with a message that names it, and what
// the ledger already recorded is untouched.
func TestBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"simulate", "-scenario", write(t, "ok.jsonl", goodScenario), "-db", db}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := led.Totals(context.Background())
	led.Close()
	if before.Credited != 1 {
		t.Fatalf("setup: %+v", before)
	}
	corrupt := write(t, "corrupt.db", strings.Repeat("this is not a database\n", 400))
	tests := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"malformed scenario line",
			[]string{"-scenario", write(t, "bad.jsonl", goodScenario+"{\"op\":\"insert\",\"ean\":\n"), "-db", db},
			[]string{"bad.jsonl", "line 3"}},
		{"unknown op",
			[]string{"-scenario", write(t, "op.jsonl", "# comment\n\n{\"op\":\"dance\"}\n"), "-db", db},
			[]string{"op.jsonl", "line 3", "dance"}},
		{"typo in a field",
			[]string{"-scenario", write(t, "typo.jsonl", `{"op":"insert","ean":"5900449000287","wieght_g":20}`+"\n"), "-db", db},
			[]string{"line 1", "wieght_g"}},
		{"product without ean",
			[]string{"-scenario", write(t, "s.jsonl", goodScenario), "-db", db,
				"-catalog", write(t, "cat.json", `[{"name":"Cola 0,5 L","deposit":{"amount":0.5}}]`)},
			[]string{"cat.json", "Cola 0,5 L", "ean"}},
		{"product without deposit",
			[]string{"-scenario", write(t, "s.jsonl", goodScenario), "-db", db,
				"-catalog", write(t, "cat.json", `{"pageNo":0,"pageSize":50,"totalItemCount":1,"data":[{"ean":"5900449000287","name":"Cola"}]}`)},
			[]string{"cat.json", "product 1", "Cola", "deposit"}},
		{"unknown config key",
			[]string{"-scenario", write(t, "s.jsonl", goodScenario), "-db", db, "-config", write(t, "c.json", `{"idleTimout":"20s"}`)},
			[]string{"idleTimout", "idleTimeout"}},
		{"config value out of bounds",
			[]string{"-scenario", write(t, "s.jsonl", goodScenario), "-db", db, "-config", write(t, "c.json", `{"bagWarnPct":120}`)},
			[]string{"bagWarnPct", "120"}},
		{"corrupt database file",
			[]string{"-scenario", write(t, "s.jsonl", goodScenario), "-db", corrupt},
			[]string{"corrupt.db", "corrupt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), append([]string{"simulate"}, tt.args...), &stdout, &bytes.Buffer{})
			if err == nil {
				t.Fatalf("simulate %v succeeded; want an error naming %q", tt.args, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("a failed run handed on %q", stdout.String())
			}
		})
	}
	led, err = ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	after, _ := led.Totals(context.Background())
	if after != before {
		t.Errorf("ledger changed by failed runs: %+v, was %+v", after, before)
	}
	if b, _ := os.ReadFile(corrupt); !bytes.Equal(b, []byte(strings.Repeat("this is not a database\n", 400))) {
		t.Error("the corrupt file was modified")
	}
}
