package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/money"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// The routes of Kaucja.pl RVM API 1.0.12 (the RVM vendor's side): what the operator calls on an RVM
// vendor's cloud. Errors answer in the operator's own ApiException shape.

func (g *Gateway) drsError(w http.ResponseWriter, r *http.Request, status int, errType, code, field, objectID string) {
	writeJSON(w, status, drsapi.ApiException{
		HTTPStatus: status, ErrorType: errType, Path: r.URL.Path, ObjectID: objectID,
		ErrorMsg: []drsapi.ErrorMsg{{ErrorCode: code, Field: field}},
	})
}

// queryNumber reads a numeric query parameter under either spelling (the
// yaml names the paging parameters "startindex" and "pagelength", the
// operator's own API "startIndex" and "pageLength").
func queryNumber(r *http.Request, names ...string) (int, bool, error) {
	q := r.URL.Query()
	for _, n := range names {
		v := q.Get(n)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f != float64(int(f)) {
			return 0, true, errors.New(n)
		}
		return int(f), true, nil
	}
	return 0, false, nil
}

// TransactionView is one transaction of GET /transaction: the DRS
// Transaction model plus paidAmount, the amount paid to the customer.
type TransactionView struct {
	drsapi.Transaction
	PaidAmount money.Grosze `json:"paidAmount"`
}

// TransactionPage is the PaginatedTransaction answer.
type TransactionPage struct {
	PageNo         int               `json:"pageNo"`
	PageSize       int               `json:"pageSize"`
	TotalItemCount int               `json:"totalItemCount"`
	Data           []TransactionView `json:"data"`
}

func (g *Gateway) transactionView(r *http.Request, e store.Event) (TransactionView, error) {
	var tv TransactionView
	if err := json.Unmarshal(e.Body, &tv.Transaction); err != nil {
		return tv, err
	}
	if tv.Voucher != nil && tv.Voucher.ID != "" {
		v, err := g.st.Voucher(r.Context(), tv.Voucher.ID)
		if err == nil && v.HasAmount {
			tv.PaidAmount = v.Amount
		}
	}
	return tv, nil
}

func (g *Gateway) drsTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var tq store.TxQuery
	tq.RvmID = q.Get("rvmId")
	if _, err := uuid.Parse(tq.RvmID); tq.RvmID != "" && (err != nil || len(tq.RvmID) != 36) {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "rvmId", "")
		return
	}
	if v := q.Get("delivered"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "delivered", "")
			return
		}
		tq.Delivered = &b
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &tq.From}, {"to", &tq.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, p.name, "")
				return
			}
			*p.dst = t
		}
	}
	start, _, err := queryNumber(r, "startindex", "startIndex")
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, err.Error(), "")
		return
	}
	size, ok, err := queryNumber(r, "pagelength", "pageLength")
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, err.Error(), "")
		return
	}
	if !ok || size == 0 {
		size = 50
	}
	size = min(size, 500)
	if n, ok, err := queryNumber(r, "transactionCount"); err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, err.Error(), "")
		return
	} else if ok && n > 0 {
		size = min(size, n)
	}
	tq.Start, tq.Limit = start, size
	evs, total, err := g.st.Transactions(r.Context(), tq)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	page := TransactionPage{PageNo: start / size, PageSize: size, TotalItemCount: total, Data: make([]TransactionView, 0, len(evs))}
	for _, e := range evs {
		tv, err := g.transactionView(r, e)
		if err != nil {
			continue // quarantined at the door; cannot happen for stored rows
		}
		page.Data = append(page.Data, tv)
	}
	writeJSON(w, http.StatusOK, page)
}

// transactionID returns the path's transaction id, a UUID; otherwise it
// has answered 400.
func (g *Gateway) transactionID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "id", "")
		return "", false
	}
	return id, true
}

func (g *Gateway) drsTransaction(w http.ResponseWriter, r *http.Request) {
	id, ok := g.transactionID(w, r)
	if !ok {
		return
	}
	e, err := g.st.Event(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.Kind != envelope.KindTransaction) {
		g.drsError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, "NOT_FOUND", "id", id)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	tv, err := g.transactionView(r, e)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tv)
}

// drsConfirm: the operator confirms it holds a transaction. Its body, when
// there is one, is the operator API's TransactionConfirmation: blocked (the
// transaction may not be paid), amount and currency; it is recorded, and a
// blocked transaction's voucher is refused at the tills.
func (g *Gateway) drsConfirm(w http.ResponseWriter, r *http.Request) {
	id, ok := g.transactionID(w, r)
	if !ok {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "body", id)
		return
	}
	c := store.Confirmation{TransactionID: id, ConfirmedAt: g.clk.Now()}
	if len(strings.TrimSpace(string(raw))) > 0 {
		var body struct {
			Blocked  bool         `json:"blocked"`
			Amount   money.Grosze `json:"amount"`
			Currency string       `json:"currency"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "body", id)
			return
		}
		c.Blocked, c.Amount, c.Currency = body.Blocked, body.Amount, body.Currency
	}
	err = g.st.ConfirmTransactionWith(r.Context(), c)
	if errors.Is(err, store.ErrNotFound) {
		g.drsError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, "NOT_FOUND", "id", id)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// apiBlocked lists the transactions the operator confirmed as blocked from
// payment (their vouchers are refused at the tills), newest first.
func (g *Gateway) apiBlocked(w http.ResponseWriter, r *http.Request) {
	bl, err := g.st.BlockedTransactions(r.Context())
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bl)
}

// postMachineBody is the yaml's PostMachine: the machine base, a location
// and an authorization code.
type postMachineBody struct {
	ID                string           `json:"id,omitempty"`
	SerialNumber      string           `json:"serialNumber"`
	Name              string           `json:"name,omitempty"`
	Bins              []drsapi.BinPost `json:"bins"`
	Location          json.RawMessage  `json:"location,omitempty"`
	AuthorizationCode string           `json:"authorizationCode,omitempty"`
}

// drsPostMachine: the operator registers a machine with us. The id is the
// operator's when given, else the one we know for the serial, else new.
func (g *Gateway) drsPostMachine(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, bodyCode(err), "body", "")
		return
	}
	var m postMachineBody
	if err := json.Unmarshal(raw, &m); err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "body", "")
		return
	}
	switch {
	case m.SerialNumber == "":
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeRequired, "serialNumber", "")
		return
	case len(m.SerialNumber) > drsapi.MaxSerialLen:
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeTooLong, "serialNumber", "")
		return
	case m.Bins == nil:
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeRequired, "bins", "")
		return
	}
	id := strings.ToLower(m.ID)
	if id == "" {
		if old, err := g.st.Machine(r.Context(), m.SerialNumber, g.today()); err == nil && old.RvmID != "" {
			id = old.RvmID
		} else {
			id = uuid.NewString()
		}
	} else if _, err := uuid.Parse(id); err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, "id", m.ID)
		return
	}
	if err := g.st.PutRegistration(r.Context(), m.SerialNumber, id, raw); err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, drsapi.MachineID{ID: id})
}

// machineOut is the yaml's Machine.
type machineOut struct {
	ID           string           `json:"id"`
	SerialNumber string           `json:"serialNumber"`
	Name         string           `json:"name,omitempty"`
	Bins         []binOut         `json:"bins"`
	Location     json.RawMessage  `json:"location,omitempty"`
	Health       healthOut        `json:"health"`
	EanSyncDate  string           `json:"ean_sync_date"`
	LastTx       string           `json:"lastTransaction,omitempty"`
	binsPost     []drsapi.BinPost // from the registration
}

type binOut struct {
	drsapi.BinPost
	IsFull     bool    `json:"isFull"`
	FillLevel  float64 `json:"fillLevel"`
	Containers int     `json:"containers"`
}

type healthOut struct {
	StatusCode       int    `json:"statusCode"`
	PowerStatus      int    `json:"powerStatus"`
	LastContactDate  string `json:"lastContactDate,omitempty"`
	LastCleaningDate string `json:"lastCleaningDate,omitempty"`
}

func (g *Gateway) machineOut(m store.Machine) machineOut {
	out := machineOut{ID: m.RvmID, SerialNumber: m.Serial, Bins: []binOut{}}
	var reg postMachineBody
	if len(m.Registration) > 0 && json.Unmarshal(m.Registration, &reg) == nil {
		out.Name, out.Location, out.binsPost = reg.Name, reg.Location, reg.Bins
	}
	var s envelope.Status
	_ = json.Unmarshal(m.Status, &s)
	out.Health.LastContactDate = rfc(m.LastSeen)
	if m.Online {
		out.Health.PowerStatus = 1
	}
	switch {
	case !m.Online || s.Fault != "":
		out.Health.StatusCode = 2
	case s.IntakeBlocked && s.BlockReason == "bag-full", s.BagFill >= 1:
		out.Health.StatusCode = 1
	}
	out.LastTx = s.LastTransactionAt
	bins := out.binsPost
	if len(bins) == 0 {
		bins = []drsapi.BinPost{{}}
	}
	for i, b := range bins {
		bo := binOut{BinPost: b}
		if i == 0 {
			bo.FillLevel, bo.Containers, bo.IsFull = s.BagFill, s.BagCount, s.BagFill >= 1
		}
		out.Bins = append(out.Bins, bo)
	}
	if t, err := g.kvTime(context.Background(), kvCatalogIncr); err == nil && !t.IsZero() {
		out.EanSyncDate = rfc(t)
	}
	return out
}

func (g *Gateway) drsMachines(w http.ResponseWriter, r *http.Request) {
	start, _, err := queryNumber(r, "startindex", "startIndex")
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, err.Error(), "")
		return
	}
	size, ok, err := queryNumber(r, "pagelength", "pageLength")
	if err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, drsapi.CodeIncorrectFormat, err.Error(), "")
		return
	}
	if !ok || size == 0 {
		size = 50
	}
	ms, err := g.st.Machines(r.Context(), g.today())
	if err != nil {
		g.internal(w, r, err)
		return
	}
	var reg []store.Machine
	for _, m := range ms {
		if m.RvmID != "" {
			reg = append(reg, m)
		}
	}
	page := struct {
		PageNo         int          `json:"pageNo"`
		PageSize       int          `json:"pageSize"`
		TotalItemCount int          `json:"totalItemCount"`
		Data           []machineOut `json:"data"`
	}{PageNo: start / size, PageSize: size, TotalItemCount: len(reg), Data: []machineOut{}}
	for i := start; i < len(reg) && i < start+size; i++ {
		page.Data = append(page.Data, g.machineOut(reg[i]))
	}
	writeJSON(w, http.StatusOK, page)
}

func (g *Gateway) drsMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r, "id", drsapi.MaxSerialLen, true)
	if !ok {
		return
	}
	m, err := g.st.Machine(r.Context(), id, g.today())
	if errors.Is(err, store.ErrNotFound) {
		g.drsError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, "NOT_FOUND", "id", id)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g.machineOut(m))
}

func (g *Gateway) drsDeleteMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r, "id", drsapi.MaxSerialLen, true)
	if !ok {
		return
	}
	err := g.st.DeleteMachine(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		g.drsError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, "NOT_FOUND", "id", id)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// drsPostProduct: the operator pushes a changed product; it becomes a new
// catalogue version, pushed to the machines.
func (g *Gateway) drsPostProduct(w http.ResponseWriter, r *http.Request) {
	var p drsapi.Product
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&p); err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, bodyCode(err), "body", "")
		return
	}
	g.putProducts(w, r, []drsapi.Product{p})
}

func (g *Gateway) drsPostProducts(w http.ResponseWriter, r *http.Request) {
	var ps []drsapi.Product
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBulkBody)).Decode(&ps); err != nil {
		g.drsError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, bodyCode(err), "body", "")
		return
	}
	g.putProducts(w, r, ps)
}

// bodyCode is the operator's error code for a body that could not be
// read: TOO_LONG past the bound, else INCORRECT_FORMAT.
func bodyCode(err error) string {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return drsapi.CodeTooLong
	}
	return drsapi.CodeIncorrectFormat
}

// putProducts validates every product where it enters (drsapi.CheckProduct:
// EAN check digit, deposit within the operator's bounds) and stores them
// all or, with any finding, none: the operator gets every finding in one
// ApiException.
func (g *Gateway) putProducts(w http.ResponseWriter, r *http.Request, ps []drsapi.Product) {
	var findings []drsapi.ErrorMsg
	out := make([]store.Product, 0, len(ps))
	for i, p := range ps {
		if f := drsapi.CheckProduct(p, i); len(f) > 0 {
			findings = append(findings, f...)
			continue
		}
		b, _ := json.Marshal(p)
		out = append(out, store.Product{EAN: p.EAN, Body: b})
	}
	if len(findings) > 0 {
		writeJSON(w, http.StatusBadRequest, drsapi.ApiException{HTTPStatus: http.StatusBadRequest, ErrorType: drsapi.ErrorTypeValidation,
			Path: r.URL.Path, ErrorMsg: findings})
		return
	}
	if _, _, err := g.st.ApplyProducts(r.Context(), out, false); err != nil {
		g.internal(w, r, err)
		return
	}
	go func() {
		if err := g.PushCatalog(context.Background()); err != nil {
			g.log.Warn("gateway: catalogue push: " + err.Error())
		}
	}()
	w.WriteHeader(http.StatusOK)
}
