package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestParsePLN(t *testing.T) {
	tests := []struct {
		in   string
		want Grosze
		err  bool
	}{
		{"0.5", 50, false}, {"0.50", 50, false}, {"1", 100, false}, {"1.00", 100, false},
		{"10.5", 1050, false}, {"-3.25", -325, false}, {".5", 50, false}, {"0.500", 50, false},
		{"12345678.99", 1234567899, false}, {" 2.10 ", 210, false},
		{"0.505", 0, true}, {"", 0, true}, {"1e2", 0, true}, {"abc", 0, true}, {"1.2.3", 0, true}, {"-", 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePLN(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParsePLN(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("ParsePLN(%q) error %v does not wrap ErrFormat", tt.in, err)
		}
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		g    Grosze
		want string
	}{{50, "0.5"}, {100, "1"}, {1050, "10.5"}, {1, "0.01"}, {0, "0"}, {-325, "-3.25"}, {123456, "1234.56"}}
	for _, tt := range tests {
		b, err := json.Marshal(tt.g)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%d) = %s, %v; want %s", tt.g, b, err, tt.want)
		}
		var back Grosze
		if err := json.Unmarshal(b, &back); err != nil || back != tt.g {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d", b, back, err, tt.g)
		}
	}
	var g Grosze
	if err := json.Unmarshal([]byte(`0.1e1`), &g); err != nil || g != 100 {
		t.Errorf("Unmarshal(0.1e1) = %d, %v; want 100", g, err)
	}
	if err := json.Unmarshal([]byte(`0.123`), &g); err == nil {
		t.Error("Unmarshal(0.123) succeeded; a third decimal is not money")
	}
}

// Sums of many deposits stay exact (a float would drift).
func TestNoDrift(t *testing.T) {
	var sum Grosze
	for i := 0; i < 1_000_000; i++ {
		sum += 10 // 0.10 PLN
	}
	if sum.String() != "100000.00" {
		t.Errorf("a million times 0.10 = %s; want 100000.00", sum)
	}
}

func ExampleParsePLN() {
	g, _ := ParsePLN("0.50")
	fmt.Println(g*3, g.String())
	// Output: 1.50 0.50
}
