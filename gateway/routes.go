package gateway

import (
	"io"
	"net/http"
)

var errEOF = io.EOF

// tillRoutes adds the routes a till's token may use (a staff token may
// too): vouchers, payouts, accounts' look-up and payouts, returns. Every
// money operation honours an Idempotency-Key.
func (g *Gateway) tillRoutes(m *http.ServeMux) {
	till := func(h http.HandlerFunc, params ...string) http.Handler { return g.params(g.till(h), false, params) }
	money := func(h http.HandlerFunc) http.Handler { return till(g.idempotent(h)) }
	m.Handle("GET /api/vouchers/{code}", till(g.apiVoucher))
	m.Handle("POST /api/vouchers/{code}/redeem", money(g.apiRedeem))
	m.Handle("POST /api/vouchers/{code}/payouts", money(g.apiReserveVoucher))
	m.Handle("POST /api/payouts/{id}/confirm", money(g.apiConfirm))
	m.Handle("POST /api/payouts/{id}/cancel", money(g.apiCancel))
	m.Handle("GET /api/payouts", till(g.apiPayouts, "status"))
	m.Handle("POST /api/vouchers/{code}/resend", money(g.apiResend))
	m.Handle("GET /api/accounts/{phone}", till(g.apiAccount))
	m.Handle("POST /api/accounts/{phone}/payouts", money(g.apiReserveAccount))
	m.Handle("POST /api/returns", money(g.apiReturn))

	// Staff only: a till's token gets 403.
	staff := func(h http.HandlerFunc) http.Handler { return g.auth(g.params(asStaff(g.idempotent(h)), false, nil)) }
	m.Handle("PUT /api/accounts/{phone}", staff(g.apiRegisterAccount))
	m.Handle("DELETE /api/accounts/{phone}", staff(g.apiEraseAccount))
	m.Handle("POST /api/accounts/{phone}/reversals", staff(g.apiReverse))
	m.Handle("GET /api/audit", g.auth(g.params(g.apiAudit, false, nil)))
}
