package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/money"
)

// Payouts at the till come in two phases (reserve, then confirm or
// cancel), so that a till that dies between the gateway's answer and its
// cash drawer can ask what happened: a reserved payout has paid nothing,
// a confirmed one has. Only a confirmation of a voucher's payout tells the
// operator (POST /voucher/redeem), once.

// DefaultReservationTTL is how long a payout may stay reserved before the
// gateway cancels it.
const DefaultReservationTTL = 15 * time.Minute

// PayoutView is a payout as the till sees it.
type PayoutView struct {
	ID        string       `json:"id"`
	Code      string       `json:"code,omitempty"`
	Amount    money.Grosze `json:"amount"`
	Till      string       `json:"till,omitempty"`
	Status    string       `json:"status"`
	CreatedAt string       `json:"createdAt"`
}

func payoutView(p store.Payout) PayoutView {
	return PayoutView{ID: p.ID, Code: p.Code, Amount: p.Amount, Till: p.Till, Status: p.Status, CreatedAt: rfc(p.CreatedAt)}
}

// decodeBody reads a small JSON body into v, refusing unknown fields; an
// empty body leaves v as it is. It answers 400 itself.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, errEOF) {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "body: "+err.Error())
		return false
	}
	return true
}

// PayoutRequest is the body of POST /api/vouchers/{code}/payouts.
type PayoutRequest struct {
	Till string `json:"till"`
}

func (g *Gateway) apiReserveVoucher(w http.ResponseWriter, r *http.Request) {
	code, ok := g.pathID(w, r, "code", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	var req PayoutRequest
	if !decodeBody(w, r, &req) {
		return
	}
	a, ok := tillName(w, r, req.Till)
	if !ok {
		return
	}
	p, err := g.st.ReserveVoucher(r.Context(), code, uuid.NewString(), a, g.clk.Now())
	if g.voucherRefused(w, r, code, "VOUCHER_NOT_ACTIVE", err) {
		return
	}
	writeJSON(w, http.StatusCreated, payoutView(p))
}

// voucherRefused answers a reservation's refusal (404, 409 with
// conflictCode, 410) and reports whether there was one.
func (g *Gateway) voucherRefused(w http.ResponseWriter, r *http.Request, code, conflictCode string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		g.met.redemption("not-found")
		writeError(w, http.StatusNotFound, "VOUCHER_NOT_FOUND", "no voucher "+code)
	case errors.Is(err, store.ErrExpired):
		g.met.redemption("expired")
		g.withVoucher(w, r, http.StatusGone, "VOUCHER_EXPIRED", err, code)
	case errors.Is(err, store.ErrBlocked):
		g.met.redemption("blocked")
		g.withVoucher(w, r, http.StatusConflict, "VOUCHER_BLOCKED", err, code)
	case errors.Is(err, store.ErrNotActive):
		g.met.redemption("already-redeemed")
		g.withVoucher(w, r, http.StatusConflict, conflictCode, err, code)
	default:
		g.internal(w, r, err)
	}
	return true
}

func (g *Gateway) withVoucher(w http.ResponseWriter, r *http.Request, status int, code string, err error, voucher string) {
	body := struct {
		APIError
		Voucher *VoucherView `json:"voucher,omitempty"`
	}{APIError: APIError{Error: err.Error(), Code: code}}
	if v, err := g.st.Voucher(r.Context(), voucher); err == nil {
		vv := g.voucherView(r.Context(), v)
		body.Voucher = &vv
	}
	writeJSON(w, status, body)
}

// ConfirmRequest is the optional body of POST /api/payouts/{id}/confirm.
type ConfirmRequest struct {
	RedeemType int `json:"redeemType"` // 1 cash (default), 2 discount
}

func (g *Gateway) apiConfirm(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r, "id", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	req := ConfirmRequest{RedeemType: drsapi.RedeemCash}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.RedeemType != drsapi.RedeemCash && req.RedeemType != drsapi.RedeemDiscount {
		writeError(w, http.StatusBadRequest, "BAD_REDEEM_TYPE", "redeemType must be 1 (cash) or 2 (discount)")
		return
	}
	p, status, err := g.confirm(r.Context(), id, actorOf(r), req.RedeemType)
	if err != nil {
		g.confirmError(w, r, status, err)
		return
	}
	writeJSON(w, http.StatusOK, payoutView(p))
}

// errOperator wraps an operator's refusal or absence during a
// confirmation; the payout is reserved again.
type errOperator struct {
	status int
	code   string
	err    error
}

func (e *errOperator) Error() string { return e.err.Error() }
func (e *errOperator) Unwrap() error { return e.err }

func (g *Gateway) confirmError(w http.ResponseWriter, r *http.Request, status int, err error) {
	var oe *errOperator
	switch {
	case errors.As(err, &oe):
		g.operatorError(w, oe.status, oe.code, oe.err)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "PAYOUT_NOT_FOUND", err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "PAYOUT_CANCELLED", err.Error())
	case status == http.StatusConflict:
		writeError(w, status, "PAYOUT_CONFIRMING", err.Error())
	default:
		g.internal(w, r, err)
	}
}

// confirmWait bounds how long a confirmation waits for another request
// confirming the same payout.
const confirmWait = 15 * time.Second

// confirm confirms payout id once, however often it is asked: the call
// that wins the payout tells the operator; the others wait for its
// outcome and answer the same.
func (g *Gateway) confirm(ctx context.Context, id string, a store.Actor, redeemType int) (store.Payout, int, error) {
	deadline := g.clk.Now().Add(confirmWait)
	for {
		now := g.clk.Now()
		p, won, retaken, err := g.st.BeginConfirm(ctx, id, a, now)
		if err != nil {
			return p, 0, err
		}
		if p.Status == store.PayoutConfirmed {
			return p, http.StatusOK, nil
		}
		if won {
			return g.redeemAtOperator(ctx, p, retaken, redeemType, now)
		}
		if p.Status == store.PayoutCancelled {
			return p, http.StatusConflict, fmt.Errorf("%w: payout %s is cancelled", store.ErrConflict, id)
		}
		// Another request is confirming it: wait for its outcome.
		if !g.clk.Now().Before(deadline) {
			return p, http.StatusConflict, fmt.Errorf("gateway: payout %s is being confirmed by another request", id)
		}
		if err := clock.Sleep(ctx, g.clk, 100*time.Millisecond); err != nil {
			return p, 0, err
		}
	}
}

// redeemAtOperator tells the operator of a voucher payout this request
// won. The call is not cut short by a till that hangs up: the payout is
// settled either way.
func (g *Gateway) redeemAtOperator(ctx context.Context, p store.Payout, retaken bool, redeemType int, now time.Time) (store.Payout, int, error) {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	oerr := g.drs.RedeemVoucher(octx, drsapi.VoucherRedeem{
		ID: p.Code, RedeemType: redeemType, RedeemDate: now.UTC().Format(time.RFC3339), RvmID: p.RvmID,
	})
	switch {
	case oerr == nil || (retaken && errors.Is(oerr, drs.ErrAlreadyRedeemed)):
		// A 409 after a take-over is the earlier attempt having gone through.
		if err := g.st.FinishConfirm(octx, p, redeemType, now); err != nil {
			return p, 0, err
		}
		g.met.redemption("redeemed")
		p.Status = store.PayoutConfirmed
		return p, http.StatusOK, nil
	case errors.Is(oerr, drs.ErrAlreadyRedeemed):
		if err := g.st.RedeemedElsewhere(octx, p, now); err != nil {
			return p, 0, err
		}
		g.met.redemption("already-redeemed")
		return p, 0, &errOperator{http.StatusConflict, "VOUCHER_ALREADY_REDEEMED", oerr}
	}
	if err := g.st.AbortConfirm(octx, p.ID, now); err != nil {
		g.log.Error("gateway: abort confirmation", slog.String("payout", p.ID), slog.String("err", err.Error()))
	}
	g.met.redemption("operator-error")
	status, code := http.StatusBadGateway, "OPERATOR_UNAVAILABLE"
	var ae *drs.APIError
	if errors.As(oerr, &ae) && !drs.Retryable(oerr) {
		status, code = http.StatusUnprocessableEntity, "OPERATOR_REFUSED"
		if ae.Exception != nil && ae.Exception.Code() == "VOUCHER_EXPIRED" {
			status, code = http.StatusGone, "VOUCHER_EXPIRED"
		}
	}
	return p, 0, &errOperator{status, code, oerr}
}

func (g *Gateway) apiCancel(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r, "id", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	p, err := g.st.CancelPayout(r.Context(), id, actorOf(r), g.clk.Now(), "cancelled by the till")
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "PAYOUT_NOT_FOUND", err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "PAYOUT_NOT_RESERVED", err.Error())
	case err != nil:
		g.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, payoutView(p))
	}
}

func (g *Gateway) apiPayouts(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", store.PayoutReserved, store.PayoutConfirming, store.PayoutConfirmed, store.PayoutCancelled:
	default:
		writeError(w, http.StatusBadRequest, "BAD_QUERY", fmt.Sprintf("status %q is not one of reserved, confirming, confirmed, cancelled", status))
		return
	}
	ps, err := g.st.Payouts(r.Context(), status)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	out := make([]PayoutView, 0, len(ps))
	for _, p := range ps {
		out = append(out, payoutView(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// expireReservations cancels the payouts left reserved past the
// reservation time, and logs each.
func (g *Gateway) expireReservations(ctx context.Context) {
	now := g.clk.Now()
	ps, err := g.st.ExpireReservations(ctx, now.Add(-g.o.ReservationTTL), now)
	for _, p := range ps {
		g.log.Warn("gateway: reservation not confirmed in time: cancelled", slog.String("payout", p.ID),
			slog.String("voucher", p.Code), slog.String("till", p.Till), slog.String("amount", p.Amount.String()))
	}
	if err != nil && ctx.Err() == nil {
		g.log.Error("gateway: expire reservations", slog.String("err", err.Error()))
	}
}
