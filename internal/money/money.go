package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Grosze is an amount of money in grosze, the minor unit of the złoty.
type Grosze int64

// ErrFormat is returned by ParsePLN for text that is not a decimal amount with
// at most two decimals.
var ErrFormat = errors.New("money: not an amount with at most two decimals")

// ParsePLN parses a decimal amount in złoty ("0.5", "1.00", "12", "-3.25")
// exactly, without going through a float. More than two decimals is an error
// unless the extra digits are zeros ("0.500").
func ParsePLN(s string) (Grosze, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("%w: %q", ErrFormat, s)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrFormat, s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<62)/100 {
		return 0, fmt.Errorf("%w: %q", ErrFormat, s)
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	g := Grosze(w*100 + f)
	if neg {
		g = -g
	}
	return g, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats g as złoty with two decimals: "0.50", "-12.05".
func (g Grosze) String() string {
	sign := ""
	v := int64(g)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes g as a JSON number in złoty with at most two decimals
// and no trailing zeros: 50 grosze is 0.5, 100 is 1, 1050 is 10.5.
func (g Grosze) MarshalJSON() ([]byte, error) {
	s := g.String()
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "" || s == "-" {
		s = "0"
	}
	return []byte(s), nil
}

// UnmarshalJSON reads a JSON number (or a string holding one) in złoty.
func (g *Grosze) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrFormat, b)
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	v, err := ParsePLN(s)
	if err != nil {
		return err
	}
	*g = v
	return nil
}
