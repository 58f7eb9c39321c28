// Package money holds deposit amounts as integer grosze (1/100 PLN).
//
// Money never lives in a float inside the project: amounts are [Grosze], added
// and multiplied as integers, and turned into the operator's decimal JSON
// numbers (0.5, 10.5) only at the edge, by [Grosze.MarshalJSON] and [ParsePLN].
//
// # Usage
//
//	g, err := money.ParsePLN("0.50") // 50 grosze
//	total := g * 3                    // 150
//	fmt.Println(total)                // 1.50
package money
