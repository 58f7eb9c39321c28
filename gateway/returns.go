package gateway

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Returns at the till: a station (a manual collection point registered
// with the operator as a machine of its own, see AddStation) takes
// containers back by hand. The return becomes one transaction in the
// operator's format, stored as the station's event and delivered by the
// same forwarder as a machine's, once.

// ReturnItem is one line of a return: count containers of one EAN.
type ReturnItem struct {
	EAN   string `json:"ean"`
	Count int    `json:"count"`
}

// ReturnRequest is the body of POST /api/returns.
type ReturnRequest struct {
	Station string       `json:"station"`
	Items   []ReturnItem `json:"items"`
	Payout  string       `json:"payout"` // "voucher" or "cash"
}

// RefusedItem is a line the station may not take, and why.
type RefusedItem struct {
	EAN   string `json:"ean"`
	Count int    `json:"count"`
	// Cause is invalid-ean, unknown-product or not-collected.
	Cause              string `json:"cause"`
	RejectionCauseCode int    `json:"rejectionCauseCode"`
}

// ReturnView is the answer to POST /api/returns.
type ReturnView struct {
	TransactionID string        `json:"transactionId"`
	Amount        money.Grosze  `json:"amount"`
	Voucher       *VoucherView  `json:"voucher,omitempty"`
	Refused       []RefusedItem `json:"refused"`
}

// voucherValidity is how long a station's voucher is valid, as a
// machine's.
const voucherValidity = 30 * 24 * time.Hour

// maxReturnItems bounds the lines of one return.
const maxReturnItems = 200

func (g *Gateway) apiReturn(w http.ResponseWriter, r *http.Request) {
	var req ReturnRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.Payout != "voucher" && req.Payout != "cash":
		writeError(w, http.StatusBadRequest, "BAD_PAYOUT", `payout must be "voucher" or "cash"`)
		return
	case len(req.Items) == 0 || len(req.Items) > maxReturnItems:
		writeError(w, http.StatusBadRequest, "BAD_ITEMS", fmt.Sprintf("a return has 1 to %d items", maxReturnItems))
		return
	}
	for _, it := range req.Items {
		if it.Count < 1 || it.Count > 1000 || len(it.EAN) > drsapi.MaxIDLen {
			writeError(w, http.StatusBadRequest, "BAD_ITEMS", fmt.Sprintf("item %q: count must be 1 to 1000", it.EAN))
			return
		}
	}
	st, err := g.st.Station(r.Context(), req.Station)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !st.Registered) {
		writeError(w, http.StatusNotFound, "STATION_NOT_FOUND", fmt.Sprintf("no registered station %q (rvm-gateway stations add)", req.Station))
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	now := g.clk.Now().UTC().Truncate(time.Second)
	t := drsapi.Transaction{ID: uuid.NewString(), RvmID: st.RvmID, TransactionStartTime: now.Format(time.RFC3339),
		TransactionEndTime: now.Format(time.RFC3339), Containers: []drsapi.Container{}}
	refused := []RefusedItem{}
	var amount money.Grosze
	rows := map[string]int{}
	for _, it := range req.Items {
		p, cause, code := g.returnable(r, it.EAN)
		if cause != "" {
			refused = append(refused, RefusedItem{EAN: it.EAN, Count: it.Count, Cause: cause, RejectionCauseCode: code})
			continue
		}
		i, ok := rows[p.EAN]
		if !ok {
			i = len(t.Containers)
			rows[p.EAN] = i
			t.Containers = append(t.Containers, drsapi.Container{EAN: p.EAN})
		}
		t.Containers[i].Count += it.Count
		if p.Weight.WithCap != nil {
			t.Containers[i].Weight += int64(math.Round(*p.Weight.WithCap * float64(it.Count)))
		}
		t.TotalAccepted += it.Count
		amount += p.Deposit.Amount * money.Grosze(it.Count)
	}
	if t.TotalAccepted == 0 {
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			APIError
			Refused []RefusedItem `json:"refused"`
		}{APIError{Error: "no item of the return may be taken", Code: "NOTHING_ACCEPTED"}, refused})
		return
	}
	for _, c := range t.Containers {
		t.TotalWeight += c.Weight
	}
	t.TotalAmount = t.TotalAccepted
	v := store.Voucher{Code: localVoucherCode(), TransactionID: t.ID, Amount: amount, HasAmount: true, Currency: "PLN",
		IssuedAt: now, ValidUntil: now.Add(voucherValidity)}
	t.Voucher = &drsapi.VoucherBase{ID: v.Code, RedeemType: drsapi.RedeemValid}
	if req.Payout == "cash" {
		// Paid in cash at the station: redeemed as it is issued.
		t.Voucher.Redeemed, t.Voucher.RedeemType = true, drsapi.RedeemCash
		v.Status, v.RedeemType, v.RedeemedAt = store.VoucherRedeemed, drsapi.RedeemCash, now
	}
	if err := g.recordReturn(r, st, t, v, amount); err != nil {
		g.internal(w, r, err)
		return
	}
	g.wakeForwarder()
	out := ReturnView{TransactionID: t.ID, Amount: amount, Refused: refused}
	if req.Payout == "voucher" {
		if sv, err := g.st.Voucher(r.Context(), v.Code); err == nil {
			vv := g.voucherView(r.Context(), sv)
			out.Voucher = &vv
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// returnable looks code up as the machine's rules do: check digit, then
// the catalogue, then its collection status. cause is "" for a container
// the station may take.
func (g *Gateway) returnable(r *http.Request, code string) (p drsapi.Product, cause string, rejection int) {
	norm, _, err := ean.Normalize(code)
	if err != nil {
		return p, "invalid-ean", drsapi.CauseInvalidEAN
	}
	sp, err := g.st.Product(r.Context(), norm)
	if errors.Is(err, store.ErrNotFound) && norm != code {
		sp, err = g.st.Product(r.Context(), code)
	}
	if err != nil || json.Unmarshal(sp.Body, &p) != nil || p.Deposit == nil {
		return p, "unknown-product", drsapi.CauseNotAccepted
	}
	// As the machine's catalogue: no status given means accepted.
	if p.CollectionStatusID != nil && *p.CollectionStatusID != drsapi.StatusAccept {
		return p, "not-collected", drsapi.CauseNotAccepted
	}
	return p, "", drsapi.CauseOK
}

// recordReturn stores the return's transaction as the station's event,
// for the forwarder, with its voucher.
func (g *Gateway) recordReturn(r *http.Request, st store.Station, t drsapi.Transaction, v store.Voucher, amount money.Grosze) error {
	body, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("gateway: return: %w", err)
	}
	seq, err := g.st.NextStationSeq(r.Context(), st.Name)
	if err != nil {
		return err
	}
	a := actorOf(r)
	ev := store.Event{ID: t.ID, Machine: st.Serial(), RvmID: st.RvmID, Seq: seq, Kind: envelope.KindTransaction,
		TS: t.TransactionEndTime, Body: body, Forward: true, ReceivedAt: g.clk.Now(),
		Vouchers: []store.Voucher{v}, Containers: int64(t.TotalAccepted), Deposits: amount}
	if _, err := g.st.SaveBatch(r.Context(), store.Batch{Events: []store.Event{ev}}); err != nil {
		return err
	}
	return g.st.AuditReturn(r.Context(), a, st.Name, t.ID, amount, g.clk.Now())
}

// localVoucherCode makes an in-store EAN-13 (prefix 29) for a station's
// voucher, as a machine without a buffer of the operator's codes does.
func localVoucherCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e10))
	p := fmt.Sprintf("29%010d", n.Int64())
	return p + fmt.Sprint(ean.CheckDigit(p))
}
