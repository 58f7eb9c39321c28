// Package drssim is a stand-in for the deposit-system operator's RVM API
// (Kaucja.pl RVM API 1.0.12, the operator's side), faithful enough to test the gateway
// and the controller against: it validates bodies the way the operator does
// and answers in the operator's error shapes, and it remembers what it
// accepted in SQLite, so that a restart does not turn a redelivery into a
// new delivery.
//
// # Usage
//
//	products, err := drssim.ParseCatalog(data)
//	sim, err := drssim.New(drssim.Options{Catalog: products, Token: "t"})
//	defer sim.Close()
//	ts := httptest.NewServer(sim)
//	c := drs.New(ts.URL, "t", nil)
//
// cmd/drs-sim runs it as a process ([Server.Serve]).
//
// # What it checks
//
//   - bodies: the yaml's required fields, no unknown fields, uuid and
//     date-time formats, enums (rejectionCauseCode 0-6, redeemType,
//     wasteType, printType) and, for a transaction, totals that add up
//     (totalAmount = totalAccepted + totalRejected = the containers'
//     counts; totalAccepted = counts with cause 0). All findings come back
//     together: 400 with an ApiException whose errorMsg lists them, with
//     field and idRow (0-based).
//   - a transaction id seen before: 409 with ErrorMessage code 5, before
//     any other business check, so that an identical retry is always 409.
//   - an unknown or deleted rvmId: 400 with ErrorMessage code 8
//     (MachineUnknown).
//   - an accepted container (cause 0) whose EAN is not in the catalogue with
//     collectionStatusId 1: 422, TRS_PRODUCT_BAD_STATUS for containers.ean
//     with the row.
//   - a voucher redeemed twice: 409 VOUCHER_ALREADY_REDEEMED; unknown: 404.
//   - with a token configured, a request without it: 401.
//
// Answers the operator leaves open are decided here: startIndex is the
// 0-based index of a page's first product; registering a serial number
// again (without an id) returns its id again; GET /voucher/buffer hands out
// EAN-13 codes in the in-store prefix 29; a bag seal repeated for the same
// bag is accepted again; seal numbers are not checksum-verified.
//
// GET /_sim/transactions lists the accepted transactions as received, and
// GET /_sim/stats counts stored records, answers, refusals and faults; with
// Options.Token set they need the token too (they show every transaction).
// A query parameter a route does not define is a 400, like a malformed one,
// and identifiers have drsapi's maximum lengths.
//
// # Faults
//
// Options.Latency delays every operator call, Options.ErrorRate answers a
// fraction of them 503 and Options.Outage answers all of them 503 with a
// Retry-After during a window. The draws come from Options.Seed, so a run
// with the same requests in the same order fails the same way.
//
// # Concurrency
//
// A [Server] serves concurrent requests. Its one SQLite connection
// serialises the writes; a voucher is redeemed by a conditional update, so
// of two concurrent redemptions exactly one wins.
package drssim
