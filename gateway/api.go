package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Handler serves the gateway's HTTP side:
//
//   - the fleet: GET /api/machines, GET /api/machines/{serial},
//     GET /api/quarantine, GET /metrics, the dashboard at /;
//   - the failure report: GET /api/failures, POST /api/failures/{id}/retry,
//     POST /api/failures/{id}/dismiss;
//   - the tills (see tillRoutes): vouchers, payouts, accounts, returns;
//   - the operator (Kaucja.pl RVM API 1.0.12, the RVM vendor's side): GET /transaction,
//     GET /transaction/{id}, PUT /transaction/{id}/confirmation, POST /machine,
//     GET /machine, GET and DELETE /machine/{id}, POST /product,
//     POST /product/bulk.
//
// GET /healthz reports the broker's and the operator's state (503 when
// either is down). With Options.APIToken set, every route but /healthz
// needs it as a bearer token: the dashboard and the metrics show every
// machine and today's money.
//
// Request bodies are bounded (maxBody; maxBulkBody for /product/bulk), path
// identifiers have the lengths of drsapi's limits, and a query parameter a
// route does not define is a 400, as a malformed one is.
func (g *Gateway) Handler() http.Handler {
	m := http.NewServeMux()
	// api and op guard a route with the token and its query parameters;
	// op answers refusals in the operator's ApiException shape.
	api := func(h http.HandlerFunc, params ...string) http.Handler { return g.auth(g.params(h, false, params)) }
	op := func(h http.HandlerFunc, params ...string) http.Handler { return g.auth(g.params(h, true, params)) }
	m.Handle("GET /api/machines", api(g.apiMachines))
	m.Handle("GET /api/machines/{serial}", api(g.apiMachine))
	m.Handle("GET /api/quarantine", api(g.apiQuarantine))
	m.Handle("GET /api/failures", api(g.apiFailures, "all"))
	m.Handle("GET /api/blocked", api(g.apiBlocked))
	m.Handle("POST /api/failures/{id}/retry", api(g.apiRetry))
	m.Handle("POST /api/failures/{id}/dismiss", api(g.apiDismiss))
	g.tillRoutes(m)

	paging := []string{"startindex", "startIndex", "pagelength", "pageLength"}
	m.Handle("GET /transaction", op(g.drsTransactions, append(paging, "rvmId", "delivered", "from", "to", "transactionCount")...))
	m.Handle("GET /transaction/{id}", op(g.drsTransaction))
	m.Handle("PUT /transaction/{id}/confirmation", op(g.drsConfirm))
	// The task's wording says POST; the yaml says PUT. Both confirm.
	m.Handle("POST /transaction/{id}/confirmation", op(g.drsConfirm))
	m.Handle("POST /machine", op(g.drsPostMachine))
	m.Handle("GET /machine", op(g.drsMachines, paging...))
	m.Handle("GET /machine/{id}", op(g.drsMachine))
	m.Handle("DELETE /machine/{id}", op(g.drsDeleteMachine))
	m.Handle("POST /product", op(g.drsPostProduct))
	m.Handle("POST /product/bulk", op(g.drsPostProducts))

	m.Handle("GET /metrics", g.auth(g.met.ServeHTTP))
	m.HandleFunc("GET /healthz", g.healthz)
	m.Handle("GET /{$}", g.auth(g.dashboard))
	m.Handle("GET /machines/{serial}", g.auth(g.machinePage))
	m.Handle("GET /live.js", g.auth(asset("live.js", "text/javascript; charset=utf-8")))
	m.Handle("GET /fleet.css", g.auth(asset("fleet.css", "text/css; charset=utf-8")))
	return m
}

func (g *Gateway) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.refuseTill(w, r) {
			return
		}
		if g.o.APIToken != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(g.o.APIToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rvm-gateway"`)
				writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "a valid bearer token is required")
				return
			}
		}
		h(w, r)
	})
}

// Bounds of request bodies. A product is about half a kilobyte: a bulk
// push of 8 MiB holds some 16,000, more than the whole catalogue.
const (
	maxBody     = 1 << 20
	maxBulkBody = 8 << 20
)

// params refuses a request with a query parameter outside allowed, or a
// query that does not parse, before h sees it: a misspelt filter silently
// ignored returns everything.
func (g *Gateway) params(h http.HandlerFunc, operator bool, allowed []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		bad := ""
		if err != nil {
			bad = r.URL.RawQuery
		}
		keys := slices.Sorted(maps.Keys(q))
		for _, k := range keys {
			if bad == "" && !slices.Contains(allowed, k) {
				bad = k
			}
		}
		if bad == "" {
			h(w, r)
			return
		}
		if operator {
			g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, bad, "")
			return
		}
		writeError(w, http.StatusBadRequest, "BAD_QUERY", fmt.Sprintf("unknown or malformed query parameter %q (allowed: %s)", bad, strings.Join(allowed, ", ")))
	}
}

// pathID returns the path value name when it is at most limit bytes long;
// otherwise it has answered 400.
func (g *Gateway) pathID(w http.ResponseWriter, r *http.Request, name string, limit int, operator bool) (string, bool) {
	v := r.PathValue(name)
	if len(v) <= limit {
		return v, true
	}
	if operator {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeTooLong, name, "")
	} else {
		writeError(w, http.StatusBadRequest, "TOO_LONG", fmt.Sprintf("%s is %d bytes long; at most %d", name, len(v), limit))
	}
	return "", false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// APIError is the body of every error answer of the /api/ routes.
type APIError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Operator carries the operator's own error, when it refused.
	Operator *drsapi.ApiException `json:"operator,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, APIError{Error: msg, Code: code})
}

func (g *Gateway) internal(w http.ResponseWriter, r *http.Request, err error) {
	g.log.Error("gateway: api", slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error")
}

// MachineView is one machine in GET /api/machines.
type MachineView struct {
	Serial        string  `json:"serial"`
	RvmID         string  `json:"rvmId,omitempty"`
	Online        bool    `json:"online"`
	LastSeen      string  `json:"lastSeen,omitempty"`
	StatusAt      string  `json:"statusAt,omitempty"`
	State         string  `json:"state,omitempty"`
	BagFill       float64 `json:"bagFill"`
	BagCount      int     `json:"bagCount"`
	IntakeBlocked bool    `json:"intakeBlocked"`
	Fault         string  `json:"fault,omitempty"`
	OutboxDepth   int64   `json:"outboxDepth"`
	// OutboxUnconfirmed counts the events the machine keeps until the
	// gateway confirms them (rvm/SERIAL/ack).
	OutboxUnconfirmed int64           `json:"outboxUnconfirmed"`
	ContainersToday   int64           `json:"containersToday"`
	DepositsToday     money.Grosze    `json:"depositsToday"`
	PendingForward    int             `json:"pendingForward"`
	CatalogVersion    int64           `json:"catalogVersion"`
	VoucherBuffer     int64           `json:"voucherBuffer"`
	Status            json.RawMessage `json:"status,omitempty"`
	// What the fleet learns (learn.go): the flags in every view, the
	// signals and the bag reconciliations in GET /api/machines/{serial}.
	FraudFlagged bool          `json:"fraudFlagged"`
	BagsFlagged  int           `json:"bagsFlagged"`
	Flags        []string      `json:"flags,omitempty"`
	Fraud        *FraudSignals `json:"fraud,omitempty"`
	Bags         []BagCheck    `json:"bags,omitempty"`
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func view(m store.Machine, withStatus bool) MachineView {
	v := MachineView{
		Serial: m.Serial, RvmID: m.RvmID, Online: m.Online, LastSeen: rfc(m.LastSeen), StatusAt: rfc(m.StatusAt),
		Fault: m.Fault, ContainersToday: m.ContainersToday, DepositsToday: m.DepositsToday,
		PendingForward: m.Pending, CatalogVersion: m.CatalogVersion, VoucherBuffer: voucherLevel(m),
	}
	var s envelope.Status
	if len(m.Status) > 0 && json.Unmarshal(m.Status, &s) == nil {
		v.State, v.BagFill, v.BagCount, v.IntakeBlocked, v.OutboxDepth = s.State, s.BagFill, s.BagCount, s.IntakeBlocked, s.OutboxDepth
		v.OutboxUnconfirmed = s.OutboxUnconfirmed
	}
	if withStatus {
		v.Status = m.Status
	}
	return v
}

// Machines returns the fleet view.
func (g *Gateway) machines(r *http.Request) ([]MachineView, error) {
	ms, err := g.st.Machines(r.Context(), g.today())
	if err != nil {
		return nil, err
	}
	out := make([]MachineView, 0, len(ms))
	for _, m := range ms {
		out = append(out, view(m, false))
	}
	if err := g.withSignals(r.Context(), out, false); err != nil {
		return nil, err
	}
	return out, nil
}

func (g *Gateway) apiMachines(w http.ResponseWriter, r *http.Request) {
	out, err := g.machines(r)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) apiMachine(w http.ResponseWriter, r *http.Request) {
	serial, ok := g.pathID(w, r, "serial", drsapi.MaxSerialLen, false)
	if !ok {
		return
	}
	m, err := g.st.Machine(r.Context(), serial, g.today())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "MACHINE_NOT_FOUND", "no machine "+serial)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	v := []MachineView{view(m, true)}
	if err := g.withSignals(r.Context(), v, true); err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v[0])
}

func (g *Gateway) apiQuarantine(w http.ResponseWriter, r *http.Request) {
	q, err := g.st.QuarantineList(r.Context(), 200)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (g *Gateway) apiFailures(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") != ""
	f, err := g.st.Failures(r.Context(), all)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (g *Gateway) apiRetry(w http.ResponseWriter, r *http.Request) {
	g.failureAct(w, r, g.st.RetryFailure, "requeued", true)
}

func (g *Gateway) apiDismiss(w http.ResponseWriter, r *http.Request) {
	g.failureAct(w, r, g.st.DismissFailure, store.FailureDismissed, false)
}

// failureAct applies a staff act (retry, dismiss) to the failure of the
// event in the path and answers with its new status.
func (g *Gateway) failureAct(w http.ResponseWriter, r *http.Request, act func(context.Context, string, time.Time) error, status string, wake bool) {
	id, ok := g.pathID(w, r, "id", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	err := act(r.Context(), id, g.clk.Now())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "FAILURE_NOT_FOUND", "no failure for event "+id)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	if wake {
		g.wakeForwarder()
	}
	writeJSON(w, http.StatusOK, map[string]string{"eventId": id, "status": status})
}

// VoucherView is what the POS sees of a voucher.
type VoucherView struct {
	Code          string        `json:"code"`
	Amount        *money.Grosze `json:"amount,omitempty"`
	Currency      string        `json:"currency,omitempty"`
	Status        string        `json:"status"` // pending, active, reserved, redeemed, expired, blocked
	RedeemType    int           `json:"redeemType"`
	IssuedAt      string        `json:"issuedAt,omitempty"`
	ValidUntil    string        `json:"validUntil,omitempty"`
	Machine       string        `json:"machine,omitempty"`
	RvmID         string        `json:"rvmId,omitempty"`
	TransactionID string        `json:"transactionId,omitempty"`
	PosID         string        `json:"posId,omitempty"`
	RedeemedAt    string        `json:"redeemedAt,omitempty"`
}

// The statuses a voucher shows the till.
const (
	VoucherPendingView  = "pending"  // a digital voucher whose transaction the operator has not accepted yet
	VoucherActiveView   = "active"   // may be paid out
	VoucherReservedView = "reserved" // a till has reserved its payout
	VoucherRedeemedView = "redeemed" // paid out, donated or credited to an account
	VoucherExpiredView  = "expired"
	VoucherBlockedView  = "blocked" // the operator blocked its transaction from payment
)

func (g *Gateway) voucherView(ctx context.Context, v store.Voucher) VoucherView {
	out := VoucherView{
		Code: v.Code, Currency: v.Currency, Status: v.Status, RedeemType: v.RedeemType, IssuedAt: rfc(v.IssuedAt),
		ValidUntil: rfc(v.ValidUntil), Machine: v.Machine, RvmID: v.RvmID, TransactionID: v.TransactionID,
		PosID: v.PosID, RedeemedAt: rfc(v.RedeemedAt),
	}
	if v.HasAmount {
		a := v.Amount
		out.Amount = &a
	}
	switch v.Status {
	case store.VoucherValid:
		out.Status = VoucherActiveView
		if c, ok, err := g.st.Confirmation(ctx, v.TransactionID); err == nil && ok && c.Blocked && v.TransactionID != "" {
			out.Status = VoucherBlockedView
		} else if !v.ValidUntil.IsZero() && !g.clk.Now().Before(v.ValidUntil) {
			out.Status = VoucherExpiredView
		} else if d, err := g.st.DigitalVoucher(ctx, v.Code); err == nil && d.State == store.DigitalPending {
			out.Status = VoucherPendingView
		}
	case store.VoucherRedeeming, store.VoucherReserved:
		out.Status = VoucherReservedView
	}
	return out
}

func (g *Gateway) apiVoucher(w http.ResponseWriter, r *http.Request) {
	code, ok := g.pathID(w, r, "code", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	v, err := g.st.Voucher(r.Context(), code)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "VOUCHER_NOT_FOUND", "no voucher "+code)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g.voucherView(r.Context(), v))
}

// RedeemRequest is the POS's body of POST /api/vouchers/{code}/redeem.
type RedeemRequest struct {
	RedeemType int    `json:"redeemType"` // 1 cash, 2 discount
	PosID      string `json:"posId"`
}

// apiRedeem pays a voucher out in one call: a reservation confirmed at
// once (see payouts.go). If the operator cannot be told, the reservation
// is cancelled, so the customer can try again, and nothing was paid.
func (g *Gateway) apiRedeem(w http.ResponseWriter, r *http.Request) {
	code, ok := g.pathID(w, r, "code", drsapi.MaxIDLen, false)
	if !ok {
		return
	}
	var req RedeemRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.RedeemType != drsapi.RedeemCash && req.RedeemType != drsapi.RedeemDiscount {
		writeError(w, http.StatusBadRequest, "BAD_REDEEM_TYPE", "redeemType must be 1 (cash) or 2 (discount)")
		return
	}
	a := actorOf(r)
	if a.Who != "till" {
		if req.PosID == "" {
			writeError(w, http.StatusBadRequest, "NO_POS_ID", "posId is required")
			return
		}
		if len(req.PosID) > drsapi.MaxIDLen {
			writeError(w, http.StatusBadRequest, "TOO_LONG", fmt.Sprintf("posId is %d bytes long; at most %d", len(req.PosID), drsapi.MaxIDLen))
			return
		}
		a.Till = req.PosID
	}
	p, err := g.st.ReserveVoucher(r.Context(), code, uuid.NewString(), a, g.clk.Now())
	// A voucher a till holds or has paid is "already redeemed" to the
	// one-shot caller, as it always was.
	if g.voucherRefused(w, r, code, "VOUCHER_ALREADY_REDEEMED", err) {
		return
	}
	if _, _, err := g.confirm(r.Context(), p.ID, a, req.RedeemType); err != nil {
		if _, cerr := g.st.CancelPayout(context.WithoutCancel(r.Context()), p.ID, a, g.clk.Now(), "one-shot redemption failed"); cerr != nil && !errors.Is(cerr, store.ErrConflict) {
			g.log.Error("gateway: cancel reservation", slog.String("payout", p.ID), slog.String("err", cerr.Error()))
		}
		g.confirmError(w, r, 0, err)
		return
	}
	v, err := g.st.Voucher(r.Context(), code)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g.voucherView(r.Context(), v))
}

func (g *Gateway) operatorError(w http.ResponseWriter, status int, code string, err error) {
	body := APIError{Error: err.Error(), Code: code}
	var ae *drs.APIError
	if errors.As(err, &ae) {
		body.Operator = ae.Exception
	}
	writeJSON(w, status, body)
}
