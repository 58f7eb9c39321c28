package scanner

import (
	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/ean"
)

// Decode splits a scanned line into its code and symbology. A line that
// starts with an AIM symbology identifier (ISO/IEC 15424: "]", a code
// character, a modifier) is read by it:
//
//	]E0  EAN-13, UPC-A or UPC-E in full EAN form (13 digits; some scanners
//	     send UPC-A as 12 digits, UPC-E as 8)
//	]E3  the same with a 2- or 5-digit add-on: the add-on is dropped
//	]E4  EAN-8
//	]E1, ]E2  an add-on alone: not a container's code, ok is false
//	]C0, ]C1, ]C2, ]C4  Code 128 (C1 is GS1-128)
//
// Any other identifier gives SymUnknown with the data after it. A line
// without an identifier is classified by its shape (8, 12 or 13 digits with
// a valid GS1 check digit); anything else is SymUnknown. The code is
// returned as the scanner sent it: the controller normalises it.
func Decode(line string) (code string, sym hal.Symbology, ok bool) {
	if len(line) < 3 || line[0] != ']' || !isAlpha(line[1]) {
		if line == "" {
			return "", hal.SymUnknown, false
		}
		return line, shape(line), true
	}
	id, data := line[1:3], line[3:]
	if data == "" {
		return "", hal.SymUnknown, false
	}
	switch id {
	case "E0":
		switch len(data) {
		case 13:
			if data[0] == '0' {
				return data, hal.SymUPCA, true // UPC-A (or UPC-E) in EAN-13 form
			}
			return data, hal.SymEAN13, true
		case 12:
			return data, hal.SymUPCA, true
		case 6, 7, 8:
			return data, hal.SymUPCE, true
		}
		return data, hal.SymUnknown, true
	case "E3":
		if len(data) == 15 || len(data) == 18 {
			data = data[:13]
		}
		return Decode("]E0" + data)
	case "E4":
		return data, hal.SymEAN8, true
	case "E1", "E2":
		return "", hal.SymUnknown, false
	case "C0", "C1", "C2", "C4":
		return data, hal.SymCode128, true
	}
	return data, hal.SymUnknown, true
}

func isAlpha(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

// shape classifies a code sent without an identifier.
func shape(code string) hal.Symbology {
	_, kind, err := ean.Normalize(code)
	if err != nil {
		return hal.SymUnknown
	}
	switch kind {
	case ean.EAN8:
		return hal.SymEAN8
	case ean.EAN13:
		if code[0] == '0' {
			return hal.SymUPCA
		}
		return hal.SymEAN13
	case ean.UPCA:
		return hal.SymUPCA
	case ean.UPCE:
		return hal.SymUPCE
	}
	return hal.SymUnknown
}
