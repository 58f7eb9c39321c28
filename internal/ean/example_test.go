package ean_test

import (
	"errors"
	"fmt"

	"github.com/deposit-rvm/rvm/internal/ean"
)

func ExampleNormalize() {
	for _, code := range []string{"5901234123457", "042100005264", "04252614", "96385074", "5901234123458"} {
		norm, kind, err := ean.Normalize(code)
		if errors.Is(err, ean.ErrCheckDigit) {
			fmt.Println(code, "rejected:", err)
			continue
		}
		fmt.Println(code, kind, norm)
	}
	// Output:
	// 5901234123457 EAN-13 5901234123457
	// 042100005264 UPC-A 0042100005264
	// 04252614 UPC-E 0042100005264
	// 96385074 EAN-8 96385074
	// 5901234123458 rejected: ean: wrong check digit: "5901234123458" (EAN-13)
}
