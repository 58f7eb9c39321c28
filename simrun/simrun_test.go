package simrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/deposit-rvm/rvm/catalog"
	"github.com/deposit-rvm/rvm/catalog/sample"
	"github.com/deposit-rvm/rvm/scenario"
)

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

func runFile(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	steps, err := scenario.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Run(context.Background(), steps, Options{Catalog: sampleCatalog(t), DBPath: filepath.Join(t.TempDir(), "l.db"), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestBasic(t *testing.T) {
	out := runFile(t, "basic.jsonl")
	t.Logf("%s", out)
}
