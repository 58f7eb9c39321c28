package drssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
)

// maxBody bounds a request body; a transaction of a bulk feeder's busiest
// session is a few kilobytes.
const maxBody = 8 << 20

// routes lists each route with the query parameters the operator defines
// for it: any other parameter, or a query that does not parse, is a 400.
func (s *Server) routes() {
	m := http.NewServeMux()
	h := func(pattern string, f http.HandlerFunc, params ...string) { m.HandleFunc(pattern, s.params(f, params)) }
	h("POST /machine", s.postMachine)
	h("HEAD /machine/{id}", s.headMachine)
	h("DELETE /machine/{id}", s.deleteMachine)
	h("GET /product", s.getProducts, "startIndex", "pageLength", "updatedAfter", "createdAfter", "sendImages")
	h("GET /product/{ean}", s.getProduct, "sendImages")
	h("POST /transaction", s.postTransaction)
	h("POST /bag-fill-status", s.postFillStatus)
	h("POST /bag-replacement", s.postReplacement)
	h("POST /bag-seal", s.postSeal)
	h("GET /voucher/buffer", s.getVoucherBuffer, "rvmId", "limit")
	h("POST /voucher/redeem", s.postRedeem)
	h("GET /_sim/transactions", s.simTransactions)
	h("GET /_sim/stats", s.simStats)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, "", "NOT_FOUND", "path", nil, r.URL.Path)
	})
	s.mux = m
}

// params refuses a query parameter outside allowed before f sees it.
func (s *Server) params(f http.HandlerFunc, allowed []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, "", drsapi.CodeIncorrectFormat, "", nil, "malformed query", r.URL.RawQuery)
			return
		}
		var c checker
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if !slices.Contains(allowed, k) {
				c.add(drsapi.CodeIncorrectFormat, k, nil, "unknown parameter")
			}
		}
		if !c.ok() {
			s.validation(w, r, "", &c)
			return
		}
		f(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "drssim: encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeException answers with an ApiException.
func (s *Server) writeException(w http.ResponseWriter, r *http.Request, status int, errType, objectID string, msgs []drsapi.ErrorMsg) {
	code := ""
	if len(msgs) > 0 {
		code = msgs[0].ErrorCode
	}
	s.countReject(status, code)
	writeJSON(w, status, drsapi.ApiException{
		HTTPStatus: status,
		ErrorType:  errType,
		Path:       r.Method + " " + r.URL.Path,
		ObjectID:   objectID,
		ErrorMsg:   msgs,
	})
}

// apiError answers with an ApiException of one finding.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, errType, objectID, code, field string, rows []int, args ...string) {
	var c checker
	c.add(code, field, rows, args...)
	s.writeException(w, r, status, errType, objectID, c.msgs)
}

// errorMessage answers in the operator's older ErrorMessage shape, which it
// uses for MachineUnknown and Conflict.
func (s *Server) errorMessage(w http.ResponseWriter, r *http.Request, status, code int, msg string) {
	s.countReject(status, strconv.Itoa(code))
	writeJSON(w, status, drsapi.ErrorMessage{ErrorCode: code, Msg: msg, Path: r.URL.Path})
}

func (s *Server) machineUnknown(w http.ResponseWriter, r *http.Request) {
	s.errorMessage(w, r, http.StatusBadRequest, drsapi.ErrorCodeMachineUnknown, "Machine doesn't belong to given DRS operator.")
}

func (s *Server) conflict(w http.ResponseWriter, r *http.Request) {
	s.errorMessage(w, r, http.StatusConflict, drsapi.ErrorCodeConflict, "Conflicting ID of the request.")
}

func (s *Server) validation(w http.ResponseWriter, r *http.Request, objectID string, c *checker) {
	s.writeException(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, objectID, c.msgs)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelError, "drssim: internal error", slog.String("err", err.Error()))
	s.apiError(w, r, http.StatusInternalServerError, drsapi.ErrorTypeTechnical, "", "INTERNAL", "", nil, err.Error())
}

// readBody returns the request body compacted, as it will be stored. An
// empty or non-JSON body has been answered with a 400 when ok is false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, "", drsapi.CodeTooLong, "", nil, err.Error())
		return nil, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, "", drsapi.CodeRequired, "", nil, "body")
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, "", drsapi.CodeIncorrectFormat, "", nil, err.Error())
		return nil, false
	}
	return buf.Bytes(), true
}

// knownMachine answers 400 MachineUnknown (or 500) and returns false when
// rvmID is not a registered machine.
func (s *Server) knownMachine(w http.ResponseWriter, r *http.Request, rvmID string) bool {
	ok, err := s.st.machineKnown(r.Context(), strings.ToLower(rvmID))
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	if !ok {
		s.machineUnknown(w, r)
	}
	return ok
}

func (s *Server) postMachine(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	m, c := checkMachine(body)
	if !c.ok() {
		s.validation(w, r, m.ID, c)
		return
	}
	ctx := r.Context()
	id := strings.ToLower(m.ID)
	var answer drsapi.MachineID
	if id == "" {
		// The same serial registered again gets its id again, so that a
		// registration retried after a lost answer does not make a twin.
		existing, err := s.st.machineBySerial(ctx, m.SerialNumber)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		id = existing
		if id == "" {
			id = s.newUUID()
		}
		answer.ID = id
	}
	if err := s.st.putMachine(ctx, id, m.SerialNumber, body, s.clk.Now()); err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Server) machineID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !isUUID(id) {
		s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, id, drsapi.CodeIncorrectFormat, "id", nil, "uuid expected", id)
		return "", false
	}
	return strings.ToLower(id), true
}

func (s *Server) headMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := s.machineID(w, r)
	if !ok {
		return
	}
	known, err := s.st.machineKnown(r.Context(), id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !known {
		s.apiError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, id, "NOT_FOUND", "id", nil, id)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := s.machineID(w, r)
	if !ok {
		return
	}
	deleted, err := s.st.deleteMachine(r.Context(), id, s.clk.Now())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !deleted {
		s.apiError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, id, "NOT_FOUND", "id", nil, id)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// queryInt reads a numeric query parameter (the operator types them as
// number, so "10.0" is 10), def when absent.
func queryInt(r *http.Request, name string, def int, c *checker) int {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != float64(int(f)) {
		c.add(drsapi.CodeIncorrectFormat, name, nil, v)
		return def
	}
	if f < 0 {
		c.add(drsapi.CodeValueTooLow, name, nil, "0")
		return def
	}
	return int(f)
}

func (s *Server) getProducts(w http.ResponseWriter, r *http.Request) {
	c := &checker{}
	q := r.URL.Query()
	start := queryInt(r, "startIndex", 0, c)
	n := min(queryInt(r, "pageLength", drsapi.MaxPageLength, c), drsapi.MaxPageLength)
	ua := c.dateTime(q.Get("updatedAfter"), "updatedAfter", false)
	ca := c.dateTime(q.Get("createdAfter"), "createdAfter", false)
	images := false
	if v := q.Get("sendImages"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.add(drsapi.CodeIncorrectFormat, "sendImages", nil, v)
		}
		images = b
	}
	if !c.ok() {
		s.validation(w, r, "", c)
		return
	}
	data, total := s.cat.page(start, n, ua, ca)
	if !images {
		for i := range data {
			data[i].Image = ""
		}
	}
	page := drsapi.ProductPage{PageSize: n, TotalItemCount: total, Data: data}
	if n > 0 {
		page.PageNo = start / n
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) {
	ean := r.PathValue("ean")
	images := false
	if v := r.URL.Query().Get("sendImages"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, ean, drsapi.CodeIncorrectFormat, "sendImages", nil, v)
			return
		}
		images = b
	}
	if len(ean) > drsapi.MaxEANLen {
		s.apiError(w, r, http.StatusBadRequest, drsapi.ErrorTypeValidation, "", drsapi.CodeTooLong, "ean", nil, strconv.Itoa(drsapi.MaxEANLen))
		return
	}
	p, ok := s.lookup(ean)
	if !ok {
		s.apiError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, ean, "NOT_FOUND", "ean", nil, ean)
		return
	}
	if !images {
		p.Image = ""
	}
	writeJSON(w, http.StatusOK, p)
}

// lookup finds a product; a UPC-A is looked up in its EAN-13 form too.
func (s *Server) lookup(ean string) (drsapi.Product, bool) {
	if p, ok := s.cat.get(ean); ok {
		return p, true
	}
	if len(ean) == 12 {
		return s.cat.get("0" + ean)
	}
	return drsapi.Product{}, false
}

func (s *Server) postTransaction(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	t, c := checkTransaction(body)
	if !c.ok() {
		s.validation(w, r, t.ID, c)
		return
	}
	ctx := r.Context()
	known, err := s.st.machineKnown(ctx, strings.ToLower(t.RvmID))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var bad checker
	for i, ct := range t.Containers {
		if ct.RejectionCauseCode != drsapi.CauseOK {
			continue
		}
		p, ok := s.lookup(ct.EAN)
		if !ok || p.CollectionStatusID == nil || *p.CollectionStatusID != drsapi.StatusAccept {
			bad.add(drsapi.CodeProductBadState, "containers.ean", []int{i}, statusName(p, ok))
		}
	}
	if !known || !bad.ok() {
		// A repeat goes before the machine and the catalogue: a delivery
		// retried after either changed is still "already delivered". An
		// accepted transaction's repeat is found by its insert below, so
		// that a new one costs no lookup of its own.
		if dup, err := s.st.transactionExists(ctx, strings.ToLower(t.ID)); err != nil {
			s.internal(w, r, err)
			return
		} else if dup {
			s.conflict(w, r)
			return
		}
		if !known {
			s.machineUnknown(w, r)
			return
		}
		s.writeException(w, r, http.StatusUnprocessableEntity, drsapi.ErrorTypeBusiness, t.ID, bad.msgs)
		return
	}
	end, _ := time.Parse(time.RFC3339, t.TransactionEndTime)
	validUntil := end.Add(s.opts.VoucherValidity)
	var v txVoucher
	if t.Voucher != nil {
		v = txVoucher{
			id:         t.Voucher.ID,
			generate:   t.Voucher.ID == "",
			redeemed:   t.Voucher.Redeemed || t.Voucher.RedeemType != drsapi.RedeemValid,
			redeemType: t.Voucher.RedeemType,
			validUntil: validUntil,
			endTime:    end,
		}
		if v.redeemed && v.redeemType == drsapi.RedeemValid {
			v.redeemType = drsapi.RedeemOther
		}
	}
	vid, err := s.st.addTransaction(ctx, strings.ToLower(t.ID), strings.ToLower(t.RvmID), body, v, s.clk.Now(), s.newVoucherCode)
	var refused *voucherRefusal
	switch {
	case errors.Is(err, errConflict):
		s.conflict(w, r)
		return
	case errors.As(err, &refused):
		s.apiError(w, r, http.StatusUnprocessableEntity, drsapi.ErrorTypeBusiness, t.ID, refused.code, "voucher.id", nil, t.Voucher.ID)
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	if vid == "" {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, drsapi.VoucherData{
		ID:         vid,
		PrintType:  s.opts.PrintType,
		IssuedAt:   t.TransactionEndTime,
		ValidUntil: validUntil.UTC().Format(time.RFC3339),
	})
}

func (s *Server) postFillStatus(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	f, c := checkFillStatus(body)
	if !c.ok() {
		s.validation(w, r, "", c)
		return
	}
	if !s.knownMachine(w, r, f.RvmID) {
		return
	}
	id := s.newUUID()
	if err := s.st.addFillStatus(r.Context(), id, strings.ToLower(f.RvmID), body, s.clk.Now()); err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, drsapi.BagFillStatusResponse{
		RvmID:            f.RvmID,
		EventID:          id,
		BinID:            f.BinID,
		WasteType:        f.WasteType,
		RvmBlocked:       f.RvmBlocked,
		FillLevelPercent: f.FillLevelPercent,
		ReportedAt:       f.ReportedAt,
	})
}

func (s *Server) postReplacement(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	b, c := checkReplacement(body)
	if !c.ok() {
		s.validation(w, r, b.BagID, c)
		return
	}
	if !s.knownMachine(w, r, b.RvmID) {
		return
	}
	var bad checker
	for i, ct := range b.Containers {
		if _, ok := s.lookup(ct.EAN); !ok {
			bad.add(drsapi.CodeProductBadState, "containers.ean", []int{i}, "UNKNOWN")
		}
	}
	if !bad.ok() {
		s.writeException(w, r, http.StatusUnprocessableEntity, drsapi.ErrorTypeBusiness, b.BagID, bad.msgs)
		return
	}
	err := s.st.addReplacement(r.Context(), strings.ToLower(b.BagID), strings.ToLower(b.RvmID), body, s.clk.Now())
	if errors.Is(err, errConflict) {
		s.conflict(w, r)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) postSeal(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	b, c := checkSeal(body)
	if !c.ok() {
		s.validation(w, r, b.BagID, c)
		return
	}
	if err := s.st.addSeal(r.Context(), strings.ToLower(b.BagID), b.SealNumber, body, s.clk.Now()); err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) getVoucherBuffer(w http.ResponseWriter, r *http.Request) {
	c := &checker{}
	rvmID := r.URL.Query().Get("rvmId")
	if rvmID == "" {
		c.add(drsapi.CodeRequired, "rvmId", nil)
	} else {
		c.uuid(rvmID, "rvmId", nil, true)
	}
	limit := queryInt(r, "limit", DefaultBufferLimit, c)
	if c.ok() && limit < 1 {
		c.add(drsapi.CodeValueTooLow, "limit", nil, "1")
	}
	if !c.ok() {
		s.validation(w, r, rvmID, c)
		return
	}
	if !s.knownMachine(w, r, rvmID) {
		return
	}
	codes, err := s.st.handOut(r.Context(), strings.ToLower(rvmID), min(limit, MaxBufferLimit), s.clk.Now(), s.newVoucherCode)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	days := int(s.opts.VoucherValidity / (24 * time.Hour))
	writeJSON(w, http.StatusOK, drsapi.VoucherBuffer{
		VoucherIDList:       codes,
		PrintType:           s.opts.PrintType,
		DaysUntilExpiration: strconv.Itoa(days) + "d",
	})
}

func (s *Server) postRedeem(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, at, c := checkRedeem(body)
	if !c.ok() {
		s.validation(w, r, v.ID, c)
		return
	}
	err := s.st.redeem(r.Context(), v.ID, v.RvmID, v.RedeemType, at, body)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, errVoucherUnknown):
		s.apiError(w, r, http.StatusNotFound, drsapi.ErrorTypeNotFound, v.ID, "VOUCHER_NOT_FOUND", "id", nil, v.ID)
	case errors.Is(err, errVoucherRedeemed):
		s.apiError(w, r, http.StatusConflict, drsapi.ErrorTypeBusiness, v.ID, "VOUCHER_ALREADY_REDEEMED", "id", nil, v.ID)
	case errors.Is(err, errVoucherExpired):
		s.apiError(w, r, http.StatusUnprocessableEntity, drsapi.ErrorTypeBusiness, v.ID, "VOUCHER_EXPIRED", "redeemDate", nil, v.RedeemDate)
	case errors.Is(err, errVoucherMachine):
		s.apiError(w, r, http.StatusUnprocessableEntity, drsapi.ErrorTypeBusiness, v.ID, drsapi.CodeInconsistent, "rvmId", nil, v.RvmID)
	default:
		s.internal(w, r, err)
	}
}

// Transactions returns the bodies of the accepted transactions, exactly as
// received (compacted), in acceptance order.
func (s *Server) Transactions(ctx context.Context) ([]json.RawMessage, error) {
	return s.st.transactions(ctx)
}

func (s *Server) simTransactions(w http.ResponseWriter, r *http.Request) {
	txs, err := s.Transactions(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, txs)
}

func (s *Server) simStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Stats(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
