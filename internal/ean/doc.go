// Package ean validates and normalizes the retail barcodes a deposit
// container may carry: EAN-13, EAN-8, UPC-A and UPC-E, each with its GS1
// mod-10 check digit.
//
// The operator's catalogue is keyed by EAN-13 (or EAN-8 for the few products
// that carry one), while a scanner reports whatever symbology it decoded. So
// every code is brought to one form before it is looked up: UPC-A gets the
// leading zero that makes it an EAN-13, and UPC-E is first expanded to its
// UPC-A. Without that, a can scanned as UPC-A would not match its own
// catalogue entry.
//
// # Usage
//
//	norm, kind, err := ean.Normalize("042100005264") // UPC-A
//	// norm == "0042100005264", kind == ean.UPCA
//	if errors.Is(err, ean.ErrCheckDigit) { ... } // rejection cause 5
//
// An eight-digit code is ambiguous: it is read as EAN-8 when its own check
// digit is right, and only otherwise as UPC-E (number system 0 or 1) whose
// expansion carries the check digit. When the last of its six digits is 5 to
// 9, a UPC-E code's check digit is always also a valid EAN-8 check digit (the
// weights line up), so such codes come out as EAN-8: telling them apart would
// take a scanner that reports the symbology.
//
// The package is pure: no state, safe for concurrent use.
package ean
