// Package catalog holds the operator's product catalogue as the controller
// needs it: which deposit a code earns, whether it may be accepted, and what
// the container should weigh and measure (docs/interfaces.md, "Catalogue file").
//
// # Usage
//
//	products, err := catalog.Load("products.json") // array or GET /product page
//	cat, err := catalog.New(version, products)     // duplicate EAN is an error
//	p, ok := cat.Lookup(scanned)                   // UPC-A finds its EAN-13 entry
//	next, err := cat.Apply(version+1, upserts, removedEANs)
//
// # Decoding rules
//
// A file is either a JSON array of products or the paged object GET /product
// returns ({"pageNo", "pageSize", "totalItemCount", "data": [...]}). Unknown
// fields are ignored, so the operator can add fields without breaking
// machines in the field. A product without an ean or without a deposit is an
// error that names it by position (counting from 1) and name:
//
//	catalog: product 3 ("Cola 0.5"): no deposit
//
// Defaults for what a product may leave out:
//   - deposit.currency absent: "PLN".
//   - collectionStatusId absent: 1 (accept). The operator's data always
//     carries it; hand-written catalogues for tests and demos usually do not,
//     and treating them as "early phase: reject" would reject everything.
//   - weights, height, diameter, volume, packaging and material absent: 0,
//     which means unknown; the acceptance rules skip or widen the check.
//
// Deposits are exact grosze ([money.Grosze]). Weights in grams become
// [physic.Mass] exact to the milligram (half away from zero), sizes in mm
// become [physic.Distance] exact to the nanometre: both are rounded on the
// decimal text of the number, not on a float product, so 20.0005 g is 20.001 g.
//
// EANs are normalized with [ean.Normalize] (EAN-13 form for UPC-A and UPC-E).
// A product whose code is not a valid EAN keeps it as given: it stays in the
// catalogue, visible in [Catalog.Products], but no scan can reach it, because
// a scan with a wrong check digit is rejected before the lookup.
//
// # Concurrency
//
// A [Catalog] never changes after [New]: [Catalog.Apply] returns a new one
// (copy on write). Any number of goroutines may read one while another
// builds its successor; swap them with an atomic.Pointer.
package catalog
