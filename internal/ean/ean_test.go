package ean

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		payload string
		want    int
	}{
		{"590123412345", 7},
		{"400638133393", 1},
		{"9638507", 4},
		{"04210000526", 4},
		{"", 0},
		{"0", 0},
		{"1", 7},
		{"59012a", -1},
	}
	for _, tt := range tests {
		if got := CheckDigit(tt.payload); got != tt.want {
			t.Errorf("CheckDigit(%q) = %v; want %v", tt.payload, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		code     string
		wantNorm string
		wantKind Kind
		wantErr  error
	}{
		{"5901234123457", "5901234123457", EAN13, nil},
		{"4006381333931", "4006381333931", EAN13, nil},
		{"0042100005264", "0042100005264", EAN13, nil},
		{"042100005264", "0042100005264", UPCA, nil},
		{"036000291452", "0036000291452", UPCA, nil},
		{"96385074", "96385074", EAN8, nil},
		{"04252614", "0042100005264", UPCE, nil},
		// UPC-E, one per expansion rule (last of the six digits 0..9).
		{"01234505", "0012000003455", UPCE, nil},
		{"01234531", "0012300000451", UPCE, nil},
		{"01234543", "0012340000053", UPCE, nil},
		{"01234514", "0012100003454", UPCE, nil},
		// With 5..9 as the last of the six digits the UPC-E and EAN-8
		// weights line up, so such a code always passes as EAN-8 first.
		{"01234558", "01234558", EAN8, nil},
		{"5901234123458", "", 0, ErrCheckDigit},
		{"042100005265", "", 0, ErrCheckDigit},
		{"96385075", "", 0, ErrCheckDigit},
		{"24252618", "", 0, ErrCheckDigit}, // would expand fine, but number system 2 is not UPC-E
		{"", "", 0, ErrNotDigits},
		{"590123412345a", "", 0, ErrNotDigits},
		{" 5901234123457", "", 0, ErrNotDigits},
		{"５901234123457", "", 0, ErrNotDigits},
		{"-5901234123457", "", 0, ErrNotDigits},
		{"1234567", "", 0, ErrLength},
		{"123456789", "", 0, ErrLength},
		{"59012341234570", "", 0, ErrLength},
	}
	for _, tt := range tests {
		norm, kind, err := Normalize(tt.code)
		if norm != tt.wantNorm || kind != tt.wantKind || !errors.Is(err, tt.wantErr) {
			t.Errorf("Normalize(%q) = %q, %v, %v; want %q, %v, %v",
				tt.code, norm, kind, err, tt.wantNorm, tt.wantKind, tt.wantErr)
		}
	}
}

func TestNormalizeErrorNamesCode(t *testing.T) {
	for _, code := range []string{"5901234123458", "59x", "1234"} {
		_, _, err := Normalize(code)
		if err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("Normalize(%q) error = %v; want it to name the code", code, err)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{EAN8, "EAN-8"}, {UPCA, "UPC-A"}, {UPCE, "UPC-E"}, {EAN13, "EAN-13"}, {0, "unknown"}, {42, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q; want %q", int(tt.k), got, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"5901234123457", "042100005264", "96385074", "04252614", "01234558",
		"", "abc", "12345678", "1234567890123", "590123412345\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		norm, kind, err := Normalize(code)
		if err != nil {
			if !errors.Is(err, ErrNotDigits) && !errors.Is(err, ErrLength) && !errors.Is(err, ErrCheckDigit) {
				t.Fatalf("Normalize(%q) = %v; want one of its errors", code, err)
			}
			if norm != "" || kind != 0 {
				t.Fatalf("Normalize(%q) = %q, %v, %v; want empty result with the error", code, norm, kind, err)
			}
			return
		}
		again, _, err := Normalize(norm)
		if err != nil || again != norm {
			t.Fatalf("Normalize(%q) = %q, %v; want %q, nil (from %q)", norm, again, err, norm, code)
		}
		if len(norm) != 8 && len(norm) != 13 || CheckDigit(norm[:len(norm)-1]) != int(norm[len(norm)-1]-'0') {
			t.Fatalf("Normalize(%q) = %q; want 8 or 13 digits ending in their check digit", code, norm)
		}
	})
}
