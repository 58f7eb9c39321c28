// Package drsapi holds the wire types of the deposit-system operator's RVM
// API (Kaucja.pl, OpenAPI 3, version 1.0.12): the bodies the RVM cloud sends
// (Transaction, BagFillStatus, BagReplacement, BagSeal, machine registration)
// and receives (Product pages, voucher buffers, ApiException errors).
//
// Field names and JSON shapes are the operator's, field by field. Money is
// [money.Grosze], which marshals to the operator's decimal numbers. The
// package does no I/O: the controller builds these bodies, the gateway
// forwards them with package drs, and drs-sim validates them.
package drsapi
