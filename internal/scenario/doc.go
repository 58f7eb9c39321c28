// Package scenario parses the simulated machine's script
// (docs/interfaces.md, "Scenario format"): JSON Lines, one [Step] a line,
// run in order on a simulated clock by the discrete-event runner.
//
// # Usage
//
//	steps, err := scenario.Parse(f)
//	// err: scenario: line 7: unknown field "wieght_g" for insert
//
// Blank lines and lines starting with # (after trimming spaces) are skipped;
// [Step.Line] keeps the line number so that the runner's own errors can point
// at the script too.
//
// # Strictness
//
// A scenario is written by hand and its whole point is to reproduce a case
// exactly, so a typo must stop it rather than silently change the case: an
// unknown op, a field the op does not take ("wieght_g"), a wrong JSON type,
// null, a value outside its enum, a negative number, "start" anywhere but as
// the first step, and trailing text after the object are all errors that name
// the line. A script that parses is a script that runs as written.
//
// # Ops and their fields
//
// Every op except start takes "gap_ms", the simulated time since the previous
// step (an integer number of ms, default 0, and 1500 for insert).
//
//   - start: "at" (RFC 3339), "rvmId", "seed"; all optional.
//   - insert: "ean" (required unless "barcode" is "missing", kept as given:
//     a deliberately invalid code is the rules' business, cause 5),
//     "weight_g", "metal", "height_mm", "diameter_mm" (absent: nil, the
//     runner takes the catalogue's), "barcode" ("ok" default, "damaged",
//     "missing"), "pullback", "cut_at" ("scanned", "chamber", "bag").
//   - finish: "payout" ("voucher", the default: a customer who just
//     presses finish gets the printed voucher; "donation"; "digital";
//     "account", credited to the phone's deposit account) and "phone"
//     (nine digits, required with "digital" and "account"; ignored with
//     the others).
//   - wait: "ms" (required).
//   - bag-exchange: "seal" (required), "staff", "bin" (default 1, at least 1).
//   - seal-replace: "old" and "new" (both required).
//   - power-cut: nothing else.
//   - fault: "kind" (required: "jam", "scanner-dead", "door-open").
//   - service: "action" (required: "clear").
package scenario
