// Package sample bundles a realistic sample catalogue of Polish deposit
// products, for demos, the simulator and tests.
//
// The EANs carry valid GS1 check digits under the Polish 590 prefix but are
// made up: they are not the real products' codes. The file is one GET
// /product page, so it also exercises the paged form of [catalog.Parse].
//
// Among its 21 products: single-use PET bottles and cans (0.50 PLN), two
// reusable glass bottles (1.00 PLN), one product of each collectionStatusId
// other than 1 (0 early phase, 2 reject, 3 test phase), a few with only
// weight.withCap (the ±20% rule applies) and one without height or diameter.
//
// [catalog.Parse]: https://pkg.go.dev/github.com/deposit-rvm/rvm/catalog#Parse
package sample

import _ "embed"

// SampleJSON is products.json. Do not modify it: it is shared; use JSON for
// a private copy.
//
//go:embed products.json
var SampleJSON []byte

// JSON returns a copy of SampleJSON that the caller may change.
func JSON() []byte {
	return append([]byte(nil), SampleJSON...)
}
