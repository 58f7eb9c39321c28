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
// cross-architecture check compares against).
func TestSimulateGolden(t *testing.T) {
	files, _ := filepath.Glob("../../internal/simrun/testdata/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{"simulate", "-scenario", f}, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".jsonl") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("rvmd simulate %s differs from its golden file:\n%s", f, out.String())
			}
		})
	}
}
