package gateway

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
)

// Deposit accounts: a customer registered by phone (with consent) gets
// the deposits of sessions finished with payout "account" credited once
// the operator accepted each transaction, and is paid out at a till in
// two phases like a voucher. Staff register, reverse and erase; tills look
// up and pay out.

var phoneRE = regexp.MustCompile(`^[0-9]{9}$`)

// AccountView is an account as the till sees it.
type AccountView struct {
	Phone   string       `json:"phone"`
	Balance money.Grosze `json:"balance"`
	Entries []EntryView  `json:"entries"`
}

// EntryView is one movement of an account's money.
type EntryView struct {
	Kind          string       `json:"kind"`
	Amount        money.Grosze `json:"amount"`
	TransactionID string       `json:"transactionId,omitempty"`
	At            string       `json:"at,omitempty"`
}

func accountView(a store.Account) AccountView {
	v := AccountView{Phone: a.Phone, Balance: a.Balance, Entries: make([]EntryView, 0, len(a.Entries))}
	for _, e := range a.Entries {
		v.Entries = append(v.Entries, EntryView{Kind: e.Kind, Amount: e.Amount, TransactionID: e.TransactionID, At: rfc(e.At)})
	}
	return v
}

// phone returns the path's phone number, or answers 400.
func phone(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.PathValue("phone")
	if !phoneRE.MatchString(p) {
		writeError(w, http.StatusBadRequest, "BAD_PHONE", "a phone number is nine digits")
		return "", false
	}
	return p, true
}

// asStaff marks a staff route's caller for the audit trail (the staff
// token was checked by auth).
func asStaff(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, store.Actor{Who: "staff"})))
	}
}

// AccountRequest is the body of PUT /api/accounts/{phone}.
type AccountRequest struct {
	Consent bool `json:"consent"`
}

func (g *Gateway) apiRegisterAccount(w http.ResponseWriter, r *http.Request) {
	p, ok := phone(w, r)
	if !ok {
		return
	}
	var req AccountRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !req.Consent {
		writeError(w, http.StatusBadRequest, "NO_CONSENT", "an account needs the customer's consent: {\"consent\": true}")
		return
	}
	acc, created, err := g.st.RegisterAccount(r.Context(), p, actorOf(r), g.clk.Now())
	if err != nil {
		g.internal(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, accountView(acc))
}

func (g *Gateway) apiAccount(w http.ResponseWriter, r *http.Request) {
	p, ok := phone(w, r)
	if !ok {
		return
	}
	acc, err := g.st.Account(r.Context(), p)
	if g.accountRefused(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, accountView(acc))
}

func (g *Gateway) accountRefused(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "ACCOUNT_NOT_FOUND", err.Error())
	case errors.Is(err, store.ErrInsufficient):
		writeError(w, http.StatusConflict, "INSUFFICIENT", err.Error())
	default:
		g.internal(w, r, err)
	}
	return true
}

func (g *Gateway) apiEraseAccount(w http.ResponseWriter, r *http.Request) {
	p, ok := phone(w, r)
	if !ok {
		return
	}
	if g.accountRefused(w, r, g.st.EraseAccount(r.Context(), p, actorOf(r), g.clk.Now())) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// AccountPayoutRequest is the body of POST /api/accounts/{phone}/payouts.
type AccountPayoutRequest struct {
	Amount money.Grosze `json:"amount"`
	Till   string       `json:"till"`
}

func (g *Gateway) apiReserveAccount(w http.ResponseWriter, r *http.Request) {
	p, ok := phone(w, r)
	if !ok {
		return
	}
	var req AccountPayoutRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Amount <= 0 {
		writeError(w, http.StatusBadRequest, "BAD_AMOUNT", "amount must be more than 0 PLN")
		return
	}
	a, ok := tillName(w, r, req.Till)
	if !ok {
		return
	}
	po, err := g.st.ReserveAccount(r.Context(), p, req.Amount, uuid.NewString(), a, g.clk.Now())
	if g.accountRefused(w, r, err) {
		return
	}
	writeJSON(w, http.StatusCreated, payoutView(po))
}

// ReversalRequest is the body of POST /api/accounts/{phone}/reversals.
type ReversalRequest struct {
	TransactionID string       `json:"transactionId"`
	Amount        money.Grosze `json:"amount"`
}

func (g *Gateway) apiReverse(w http.ResponseWriter, r *http.Request) {
	p, ok := phone(w, r)
	if !ok {
		return
	}
	var req ReversalRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Amount <= 0 || req.TransactionID == "" || len(req.TransactionID) > drsapi.MaxIDLen {
		writeError(w, http.StatusBadRequest, "BAD_REVERSAL", "a reversal names a transactionId and an amount over 0 PLN")
		return
	}
	err := g.st.ReverseCredit(r.Context(), p, req.TransactionID, req.Amount, actorOf(r), g.clk.Now())
	if g.accountRefused(w, r, err) {
		return
	}
	acc, err := g.st.Account(r.Context(), p)
	if g.accountRefused(w, r, err) {
		return
	}
	writeJSON(w, http.StatusCreated, accountView(acc))
}

func (g *Gateway) apiAudit(w http.ResponseWriter, r *http.Request) {
	out, err := g.st.Audit(r.Context(), 500)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
