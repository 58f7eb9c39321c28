package ean

import (
	"errors"
	"fmt"
)

// Kind is the symbology a code was recognised as.
type Kind int

// The symbologies Normalize recognises. The zero Kind is what Normalize
// returns alongside an error.
const (
	EAN8 Kind = iota + 1
	UPCA
	UPCE
	EAN13
)

func (k Kind) String() string {
	switch k {
	case EAN8:
		return "EAN-8"
	case UPCA:
		return "UPC-A"
	case UPCE:
		return "UPC-E"
	case EAN13:
		return "EAN-13"
	}
	return "unknown"
}

// Errors Normalize wraps; each wrapped error also names the code.
var (
	ErrNotDigits  = errors.New("ean: not all digits")
	ErrLength     = errors.New("ean: not 8, 12 or 13 digits")
	ErrCheckDigit = errors.New("ean: wrong check digit")
)

// CheckDigit returns the GS1 mod-10 check digit for payload, the digits
// before the check digit. Weights 3 and 1 alternate from the rightmost
// payload digit, which is why one function serves EAN-8, UPC-A and EAN-13.
// A payload holding anything but ASCII digits gives -1, so that a careless
// caller gets a digit that never matches rather than a plausible one.
func CheckDigit(payload string) int {
	sum := 0
	w := 3
	for i := len(payload) - 1; i >= 0; i-- {
		c := payload[i]
		if c < '0' || c > '9' {
			return -1
		}
		sum += int(c-'0') * w
		w = 4 - w
	}
	return (10 - sum%10) % 10
}

// Normalize validates code and returns the form the catalogue is keyed by:
// EAN-13 as is, UPC-A with a leading 0, UPC-E expanded to UPC-A and then
// given the leading 0, EAN-8 as is. kind says what code was recognised as.
//
// The error wraps ErrNotDigits, ErrLength or ErrCheckDigit and names code.
// Surrounding spaces are not trimmed: a scanner that reports them is broken
// and should be noticed, not silently accepted.
func Normalize(code string) (norm string, kind Kind, err error) {
	if !allDigits(code) {
		return "", 0, fmt.Errorf("%w: %q", ErrNotDigits, code)
	}
	switch len(code) {
	case 13:
		if !checks(code) {
			return "", 0, fmt.Errorf("%w: %q (EAN-13)", ErrCheckDigit, code)
		}
		return code, EAN13, nil
	case 12:
		if !checks(code) {
			return "", 0, fmt.Errorf("%w: %q (UPC-A)", ErrCheckDigit, code)
		}
		return "0" + code, UPCA, nil
	case 8:
		if checks(code) {
			return code, EAN8, nil
		}
		if code[0] == '0' || code[0] == '1' {
			if a := expandUPCE(code); checks(a) {
				return "0" + a, UPCE, nil
			}
		}
		return "", 0, fmt.Errorf("%w: %q (neither EAN-8 nor UPC-E)", ErrCheckDigit, code)
	}
	return "", 0, fmt.Errorf("%w: %q has %d", ErrLength, code, len(code))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// checks reports whether the last digit of code is the check digit of the rest.
func checks(code string) bool {
	return CheckDigit(code[:len(code)-1]) == int(code[len(code)-1]-'0')
}

// expandUPCE turns the eight digits of a UPC-E code (number system, six
// digits, check digit) into the twelve of its UPC-A. The last of the six
// digits says where the zeros suppressed by UPC-E belong.
func expandUPCE(e string) string {
	ns, d, c := e[:1], e[1:7], e[7:]
	var body string
	switch d[5] {
	case '0', '1', '2':
		body = d[0:2] + d[5:6] + "0000" + d[2:5]
	case '3':
		body = d[0:3] + "00000" + d[3:5]
	case '4':
		body = d[0:4] + "00000" + d[4:5]
	default:
		body = d[0:5] + "0000" + d[5:6]
	}
	return ns + body + c
}
