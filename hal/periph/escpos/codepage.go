package escpos

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CodePage is a printer character table: its ESC t number and the bytes of
// the letters beyond ASCII that a Polish voucher needs.
type CodePage struct {
	Name  string
	N     byte // ESC t n; NoSelect: send no ESC t
	Bytes map[rune]byte
}

// NoSelect as CodePage.N sends no ESC t (the printer's default table).
const NoSelect = 0xff

// The Polish letters in IBM PC code page 852 (DOS Latin 2), as in the
// Unicode consortium's CP852 mapping; the test checks them against
// golang.org/x/text's table.
var cp852 = map[rune]byte{
	'ą': 0xa5, 'ć': 0x86, 'ę': 0xa9, 'ł': 0x88, 'ń': 0xe4, 'ó': 0xa2, 'ś': 0x98, 'ź': 0xab, 'ż': 0xbe,
	'Ą': 0xa4, 'Ć': 0x8f, 'Ę': 0xa8, 'Ł': 0x9d, 'Ń': 0xe3, 'Ó': 0xe0, 'Ś': 0x97, 'Ź': 0x8d, 'Ż': 0xbd,
}

// The same letters in Windows-1250.
var cp1250 = map[rune]byte{
	'ą': 0xb9, 'ć': 0xe6, 'ę': 0xea, 'ł': 0xb3, 'ń': 0xf1, 'ó': 0xf3, 'ś': 0x9c, 'ź': 0x9f, 'ż': 0xbf,
	'Ą': 0xa5, 'Ć': 0xc6, 'Ę': 0xca, 'Ł': 0xa3, 'Ń': 0xd1, 'Ó': 0xd3, 'Ś': 0x8c, 'Ź': 0x8f, 'Ż': 0xaf,
}

// The letters without their marks, for a printer with no Polish table.
var ascii = map[rune]byte{
	'ą': 'a', 'ć': 'c', 'ę': 'e', 'ł': 'l', 'ń': 'n', 'ó': 'o', 'ś': 's', 'ź': 'z', 'ż': 'z',
	'Ą': 'A', 'Ć': 'C', 'Ę': 'E', 'Ł': 'L', 'Ń': 'N', 'Ó': 'O', 'Ś': 'S', 'Ź': 'Z', 'Ż': 'Z',
}

// CodePages are the tables a printer can be configured with. The ESC t
// numbers are Epson's (PC852 Latin 2 is 18, WPC1250 is 45); a printer that
// numbers its tables otherwise takes Opts.CodePageN.
var CodePages = map[string]CodePage{
	"cp852":  {Name: "cp852", N: 18, Bytes: cp852},
	"cp1250": {Name: "cp1250", N: 45, Bytes: cp1250},
	"ascii":  {Name: "ascii", N: NoSelect, Bytes: ascii},
}

// LookupCodePage finds a table by name (cp852, cp1250, ascii; case and a
// "pc" or "windows-" spelling are accepted).
func LookupCodePage(name string) (CodePage, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.NewReplacer("windows-", "cp", "pc", "cp", "-", "").Replace(n)
	if cp, ok := CodePages[n]; ok {
		return cp, nil
	}
	return CodePage{}, fmt.Errorf("escpos: unknown code page %q (want cp852, cp1250 or ascii)", name)
}

// encode appends s in the code page: ASCII as is, the table's letters as
// its bytes, anything else as '?'. Control characters are dropped so that
// text can never smuggle a command into the stream.
func (cp CodePage) encode(dst []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			dst = append(dst, '?')
		case r >= 0x20 && r < 0x7f:
			dst = append(dst, byte(r))
		case r < 0x20 || r == 0x7f:
		default:
			if b, ok := cp.Bytes[r]; ok {
				dst = append(dst, b)
			} else {
				dst = append(dst, '?')
			}
		}
	}
	return dst
}
