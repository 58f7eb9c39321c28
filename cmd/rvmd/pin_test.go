package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/internal/service"
	"github.com/deposit-rvm/rvm/machine/ledger"
)

func TestPinSet(t *testing.T) {
	db := filepath.Join(t.TempDir(), "rvmd.db")
	tests := []struct {
		args  []string
		stdin string
		ok    bool
	}{
		{[]string{"set", "-db", db}, "123\n", false},
		{[]string{"set", "-db", db}, "12345678a\n", false},
		{[]string{"set", "-db", db}, "", false},
		{[]string{"get", "-db", db}, "1234\n", false},
		{[]string{"set", "-db", db}, "4711\n", true},
		{[]string{"set", "-db", db}, "90210", true}, // no newline at the end
	}
	for _, tt := range tests {
		err := runPin(context.Background(), tt.args, strings.NewReader(tt.stdin), io.Discard, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("rvmd pin %v <<< %q = %v; want ok %v", tt.args, tt.stdin, err, tt.ok)
		}
	}
	led, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	h, ok, err := led.PIN(context.Background())
	if err != nil || !ok {
		t.Fatalf("PIN() = %v, %v; want a hash", ok, err)
	}
	if good, _ := service.CheckPIN(h, "90210"); !good {
		t.Errorf("the stored hash does not match the last PIN set")
	}
	if strings.Contains(h, "90210") {
		t.Errorf("the ledger holds the PIN in the clear: %q", h)
	}
}
