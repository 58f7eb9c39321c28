package main

import (
	"bytes"
	"context"
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
