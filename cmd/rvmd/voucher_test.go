package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestVoucherRender(t *testing.T) {
	tests := []struct {
		args   []string
		golden string
	}{
		{[]string{"-code", "2912345678906", "-amount", "1.50", "-print-type", "0", "-valid-until", "2026-02-04"}, "barcode-ean13.bin"},
		{[]string{"-code", "OP-7F3A-0002", "-amount", "3,50", "-print-type", "1", "-valid-until", "2026-02-04T08:00:00Z"}, "qr.bin"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"voucher-render"}, tt.args...), &out, &errb); err != nil {
			t.Fatalf("voucher-render %v = %v (%s)", tt.args, err, errb.String())
		}
		want, err := os.ReadFile("../../hal/periph/escpos/testdata/" + tt.golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("voucher-render %v = %q; want %s %q", tt.args, out.Bytes(), tt.golden, want)
		}
	}
	bad := []struct {
		args []string
		name string // what the error must name
	}{
		{[]string{"-amount", "1"}, "code"},
		{[]string{"-code", "1", "-amount", "1.505"}, "1.505"},
		{[]string{"-code", "1", "-amount", "0"}, `"0"`},
		{[]string{"-code", "1", "-amount", "1", "-print-type", "2"}, "print type 2"},
		{[]string{"-code", "1", "-amount", "1", "-valid-until", "tomorrow"}, "tomorrow"},
		{[]string{"-code", "1", "-amount", "1", "-codepage", "cp437"}, "cp437"},
		{[]string{"-code", "1", "-amount", "1", "extra"}, "extra"},
	}
	for _, tt := range bad {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"voucher-render"}, tt.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("voucher-render %v = %v; want an error naming %s", tt.args, err, tt.name)
		}
		if out.Len() != 0 {
			t.Errorf("voucher-render %v wrote %d bytes; want none", tt.args, out.Len())
		}
	}
}
