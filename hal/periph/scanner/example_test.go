package scanner_test

import (
	"fmt"

	"github.com/deposit-rvm/rvm/hal/periph/scanner"
)

func ExampleDecode() {
	for _, line := range []string{"]E05901234123457", "]E496385074", "]C0ABC-123", "036000291452"} {
		code, sym, _ := scanner.Decode(line)
		fmt.Println(code, sym)
	}
	// Output:
	// 5901234123457 EAN-13
	// 96385074 EAN-8
	// ABC-123 Code128
	// 036000291452 UPC-A
}
