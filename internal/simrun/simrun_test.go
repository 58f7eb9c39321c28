package simrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func sampleCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	ps, err := catalog.Parse(sample.JSON())
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.New(1, ps)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// line is one line of simulate output.
type line struct {
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

// play runs a scenario text and returns the raw output.
func play(t *testing.T, text string, opt func(*Options)) []byte {
	t.Helper()
	steps, err := scenario.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// The options rvmd simulate uses: the default configuration.
	o := Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "ledger.db"), Out: &out, Machine: MachineOptions(config.Default())}
	if opt != nil {
		opt(&o)
	}
	if err := Run(context.Background(), steps, o); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func parseOut(t *testing.T, b []byte) []line {
	t.Helper()
	var ls []line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		ls = append(ls, l)
	}
	return ls
}

func transactions(t *testing.T, ls []line) []drsapi.Transaction {
	t.Helper()
	var txs []drsapi.Transaction
	for _, l := range ls {
		if l.Kind != "transaction" {
			continue
		}
		var tx drsapi.Transaction
		if err := json.Unmarshal(l.Body, &tx); err != nil {
			t.Fatal(err)
		}
		checkTotals(t, tx)
		txs = append(txs, tx)
	}
	return txs
}

// checkTotals is the property every transaction must have.
func checkTotals(t *testing.T, tx drsapi.Transaction) {
	t.Helper()
	acc, rej, sum := 0, 0, 0
	var weight int64
	for _, c := range tx.Containers {
		sum += c.Count
		if c.RejectionCauseCode == 0 {
			acc += c.Count
			weight += c.Weight
		} else {
			rej += c.Count
		}
		if c.Count <= 0 || c.Weight < 0 {
			t.Errorf("transaction %s: row %+v", tx.ID, c)
		}
	}
	if tx.TotalAccepted != acc || tx.TotalRejected != rej || tx.TotalAmount != sum || tx.TotalAmount != acc+rej {
		t.Errorf("transaction %s totals: amount %d accepted %d rejected %d; rows give %d/%d/%d",
			tx.ID, tx.TotalAmount, tx.TotalAccepted, tx.TotalRejected, sum, acc, rej)
	}
	if tx.TotalWeight != weight {
		t.Errorf("transaction %s: totalWeight %d, accepted rows weigh %d", tx.ID, tx.TotalWeight, weight)
	}
	if acc == 0 && tx.Voucher != nil {
		t.Errorf("transaction %s accepted nothing but has voucher %+v", tx.ID, tx.Voucher)
	}
	if acc > 0 && tx.Voucher == nil && !tx.TransactionBlocked {
		t.Errorf("transaction %s accepted %d but has no voucher", tx.ID, acc)
	}
	if tx.TransactionBlocked && tx.Voucher != nil {
		t.Errorf("transaction %s is blocked but has voucher %+v", tx.ID, tx.Voucher)
	}
}

// TestGolden runs every testdata/*.jsonl scenario and compares the output
// with testdata/NAME.golden (go test -update rewrites them). Each runs
// twice: the output must be byte-identical.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := play(t, string(text), nil)
			again := play(t, string(text), nil)
			if !bytes.Equal(got, again) {
				t.Fatalf("two runs differ:\n%s\n---\n%s", got, again)
			}
			transactions(t, parseOut(t, got))
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
