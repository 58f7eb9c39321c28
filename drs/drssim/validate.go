package drssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
)

// checker collects the findings of one request body, the way the operator
// lists them all in one ApiException rather than stopping at the first.
type checker struct {
	msgs []drsapi.ErrorMsg
}

func (c *checker) ok() bool { return len(c.msgs) == 0 }

// add records a finding. rows are the list indexes (0-based) the field sits
// in: idRow, then idRow2.
func (c *checker) add(code, field string, rows []int, args ...string) {
	m := drsapi.ErrorMsg{
		ErrorCode:     code,
		Field:         field,
		ErrorMsgLabel: "api.err.msg." + strings.ToLower(strings.ReplaceAll(code, "_", ".")),
		ErrorMsgArgs:  args,
	}
	if len(rows) > 0 {
		m.IDRow = &rows[0]
	}
	if len(rows) > 1 {
		m.IDRow2 = &rows[1]
	}
	c.msgs = append(c.msgs, m)
}

// shape lists an object's keys (from the operator's yaml).
type shape struct {
	required []string
	optional []string
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// object reads raw as a JSON object of shape sh: a missing or null required
// key is REQUIRED; a key the operator does not define is INCORRECT_FORMAT,
// because a misspelt field silently dropped is the bug a stand-in must catch.
// It returns nil when raw is not an object.
func (c *checker) object(raw json.RawMessage, prefix string, rows []int, sh shape) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		c.add(drsapi.CodeIncorrectFormat, prefix, rows, "object expected")
		return nil
	}
	for _, k := range sh.required {
		if v, ok := obj[k]; !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			c.add(drsapi.CodeRequired, join(prefix, k), rows)
		}
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(sh.required, k) && !slices.Contains(sh.optional, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		c.add(drsapi.CodeIncorrectFormat, join(prefix, k), rows, "unknown field")
	}
	return obj
}

// array reads obj[key] as a JSON array of raw elements; absent or null is nil.
func (c *checker) array(obj map[string]json.RawMessage, key, prefix string, rows []int) []json.RawMessage {
	v, ok := obj[key]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	var out []json.RawMessage
	if err := json.Unmarshal(v, &out); err != nil {
		c.add(drsapi.CodeIncorrectFormat, join(prefix, key), rows, "array expected")
		return nil
	}
	return out
}

// decode unmarshals body into v, recording a type mismatch with its field.
func (c *checker) decode(body []byte, v any) { c.decodeRow(body, "", nil, v) }

// decodeRow unmarshals one list element (at rows, under prefix) into v, so
// that a type mismatch is reported with its row.
func (c *checker) decodeRow(body []byte, prefix string, rows []int, v any) {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			c.add(drsapi.CodeIncorrectFormat, join(prefix, te.Field), rows, te.Value+" is not "+te.Type.String())
			return
		}
		c.add(drsapi.CodeIncorrectFormat, prefix, rows, err.Error())
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }

// uuid checks a uuid field; an empty optional one passes.
func (c *checker) uuid(v, field string, rows []int, required bool) {
	if v == "" && !required {
		return
	}
	if !isUUID(v) {
		c.add(drsapi.CodeIncorrectFormat, field, rows, "uuid expected", v)
	}
}

// length checks that a string field is at most max bytes long.
func (c *checker) length(v, field string, rows []int, max int) {
	if len(v) > max {
		c.add(drsapi.CodeTooLong, field, rows, fmt.Sprint(max))
	}
}

// dateTime checks an RFC 3339 date-time and returns it (zero if bad).
func (c *checker) dateTime(v, field string, required bool) time.Time {
	if v == "" && !required {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		c.add(drsapi.CodeIncorrectFormat, field, nil, "date-time expected", v)
		return time.Time{}
	}
	return t
}

func (c *checker) enum(v int, field string, rows []int, allowed ...int) {
	if !slices.Contains(allowed, v) {
		c.add(drsapi.CodeEnumError, field, rows, fmt.Sprint(v))
	}
}

var wasteTypes = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99}

var (
	transactionShape = shape{
		required: []string{"id", "rvmId", "transactionBlocked", "totalWeight", "transactionStartTime", "transactionEndTime", "totalAccepted", "totalRejected", "containers"},
		optional: []string{"totalAmount", "voucher"},
	}
	containerShape   = shape{required: []string{"ean", "count", "weight", "rejectionCauseCode"}}
	voucherBaseShape = shape{optional: []string{"id", "redeemed", "redeemType"}}
	fillStatusShape  = shape{
		required: []string{"rvmId", "wasteType", "fillLevelPercent", "rvmBlocked", "reportedAt"},
		optional: []string{"binId"},
	}
	replacementShape = shape{
		required: []string{"bagId", "rvmId", "replacementDate", "containers"},
		optional: []string{"binNo", "sealNumber", "lockingPersonId", "bagWeight", "containerAmount", "relatedTransactionsIds"},
	}
	containerFullShape = shape{required: []string{"ean", "count"}}
	sealShape          = shape{required: []string{"sealNumber", "bagId", "sealTime"}, optional: []string{"lockingPersonId"}}
	machineShape       = shape{
		required: []string{"serialNumber", "bins", "drsCpNo"},
		optional: []string{"id", "name", "model", "manufacturer"},
	}
	binShape    = shape{optional: []string{"wasteType", "litrage"}}
	redeemShape = shape{required: []string{"id", "redeemType", "redeemDate"}, optional: []string{"rvmId"}}
)

// transactionStructure checks a transaction body's shape (keys, objects
// and arrays) and decodes it; with rows, each container row is decoded on
// its own first, to name the row of a value of the wrong type. obj is the
// body's members.
func transactionStructure(body []byte, rows bool) (t drsapi.Transaction, obj map[string]json.RawMessage, c *checker) {
	c = &checker{}
	obj = c.object(body, "", nil, transactionShape)
	if obj == nil {
		return t, obj, c
	}
	// Best effort, so that even a body refused early names its transaction.
	_ = json.Unmarshal(obj["id"], &t.ID)
	for i, raw := range c.array(obj, "containers", "", nil) {
		if c.object(raw, "containers", []int{i}, containerShape) != nil && rows {
			c.decodeRow(raw, "containers", []int{i}, new(drsapi.Container))
		}
	}
	if v, ok := obj["voucher"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		c.object(v, "voucher", nil, voucherBaseShape)
	}
	if c.ok() {
		c.decode(body, &t)
	}
	return t, obj, c
}

// checkTransaction validates a transaction body: structure, formats, enums
// and totals. Catalogue and machine checks come later, after the 409 check.
func checkTransaction(body []byte) (drsapi.Transaction, *checker) {
	t, obj, c := transactionStructure(body, false)
	if !c.ok() {
		// Again, each row decoded on its own, so that a row that does not
		// decode is named by its row. A valid body skips that: a peak
		// transaction's 82 rows decoded twice were a tenth of drs-sim's
		// time (BENCHMARKS.md).
		t, obj, c = transactionStructure(body, true)
	}
	if !c.ok() {
		return t, c
	}
	c.uuid(t.ID, "id", nil, true)
	c.uuid(t.RvmID, "rvmId", nil, true)
	start := c.dateTime(t.TransactionStartTime, "transactionStartTime", true)
	end := c.dateTime(t.TransactionEndTime, "transactionEndTime", true)
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		c.add(drsapi.CodeInconsistent, "transactionEndTime", nil, "before transactionStartTime")
	}
	if t.TotalWeight < 0 {
		c.add(drsapi.CodeValueTooLow, "totalWeight", nil, "0")
	}
	var sum, accepted, rejected int
	type key struct {
		ean   string
		cause int
	}
	rowOf := map[key]int{}
	for i, ct := range t.Containers {
		row := []int{i}
		c.enum(ct.RejectionCauseCode, "containers.rejectionCauseCode", row, 0, 1, 2, 3, 4, 5, 6)
		if ct.Count < 1 {
			c.add(drsapi.CodeValueTooLow, "containers.count", row, "1")
		}
		if ct.Weight < 0 {
			c.add(drsapi.CodeValueTooLow, "containers.weight", row, "0")
		}
		c.length(ct.EAN, "containers.ean", row, drsapi.MaxEANLen)
		k := key{ct.EAN, ct.RejectionCauseCode}
		if j, dup := rowOf[k]; dup {
			c.add(drsapi.CodeInconsistent, "containers.ean", row, "same ean and rejectionCauseCode as row "+fmt.Sprint(j))
		}
		rowOf[k] = i
		sum += ct.Count
		if ct.RejectionCauseCode == drsapi.CauseOK {
			accepted += ct.Count
		} else {
			rejected += ct.Count
		}
	}
	if t.TotalAccepted != accepted {
		c.add(drsapi.CodeInconsistent, "totalAccepted", nil, fmt.Sprint(t.TotalAccepted), fmt.Sprint(accepted))
	}
	if t.TotalRejected != rejected {
		c.add(drsapi.CodeInconsistent, "totalRejected", nil, fmt.Sprint(t.TotalRejected), fmt.Sprint(rejected))
	}
	if _, ok := obj["totalAmount"]; ok && (t.TotalAmount != sum || t.TotalAmount != t.TotalAccepted+t.TotalRejected) {
		c.add(drsapi.CodeInconsistent, "totalAmount", nil, fmt.Sprint(t.TotalAmount), fmt.Sprint(sum))
	}
	if t.Voucher != nil {
		// redeemed is not checked against redeemType: the operator's own
		// example pairs redeemed true with redeemType 0.
		c.enum(t.Voucher.RedeemType, "voucher.redeemType", nil, 0, 1, 2, 3, 99)
	}
	return t, c
}

func checkFillStatus(body []byte) (drsapi.BagFillStatus, *checker) {
	c := &checker{}
	var s drsapi.BagFillStatus
	if c.object(body, "", nil, fillStatusShape); !c.ok() {
		return s, c
	}
	if c.decode(body, &s); !c.ok() {
		return s, c
	}
	c.uuid(s.RvmID, "rvmId", nil, true)
	c.uuid(s.BinID, "binId", nil, false)
	for i, w := range s.WasteType {
		c.enum(w, "wasteType", []int{i}, wasteTypes...)
	}
	// A fraction (0.8 for 80 %): a controller sending 80 is caught here.
	if s.FillLevelPercent < 0 {
		c.add(drsapi.CodeValueTooLow, "fillLevelPercent", nil, "0")
	}
	if s.FillLevelPercent > 1 {
		c.add(drsapi.CodeValueTooHigh, "fillLevelPercent", nil, "1")
	}
	c.dateTime(s.ReportedAt, "reportedAt", true)
	return s, c
}

func checkReplacement(body []byte) (drsapi.BagReplacement, *checker) {
	c := &checker{}
	var r drsapi.BagReplacement
	obj := c.object(body, "", nil, replacementShape)
	if obj == nil {
		return r, c
	}
	for i, raw := range c.array(obj, "containers", "", nil) {
		if c.object(raw, "containers", []int{i}, containerFullShape) != nil {
			c.decodeRow(raw, "containers", []int{i}, new(drsapi.ContainerFull))
		}
	}
	if !c.ok() {
		return r, c
	}
	if c.decode(body, &r); !c.ok() {
		return r, c
	}
	c.uuid(r.BagID, "bagId", nil, true)
	c.uuid(r.RvmID, "rvmId", nil, true)
	c.uuid(r.LockingPersonID, "lockingPersonId", nil, false)
	c.dateTime(r.ReplacementDate, "replacementDate", true)
	for i, id := range r.RelatedTransactionsIDs {
		c.uuid(id, "relatedTransactionsIds", []int{i}, true)
	}
	if _, ok := obj["binNo"]; ok && r.BinNo < 1 {
		c.add(drsapi.CodeValueTooLow, "binNo", nil, "1")
	}
	if r.BagWeight < 0 {
		c.add(drsapi.CodeValueTooLow, "bagWeight", nil, "0")
	}
	if _, ok := obj["sealNumber"]; ok && strings.TrimSpace(r.SealNumber) == "" {
		c.add(drsapi.CodeRequired, "sealNumber", nil)
	}
	c.length(r.SealNumber, "sealNumber", nil, drsapi.MaxIDLen)
	sum := 0
	rowOf := map[string]int{}
	for i, ct := range r.Containers {
		row := []int{i}
		if ct.EAN == "" {
			c.add(drsapi.CodeRequired, "containers.ean", row)
		}
		c.length(ct.EAN, "containers.ean", row, drsapi.MaxEANLen)
		if j, dup := rowOf[ct.EAN]; dup {
			c.add(drsapi.CodeInconsistent, "containers.ean", row, "same ean as row "+fmt.Sprint(j))
		}
		rowOf[ct.EAN] = i
		if ct.Count < 1 {
			c.add(drsapi.CodeValueTooLow, "containers.count", row, "1")
		}
		sum += ct.Count
	}
	if _, ok := obj["containerAmount"]; ok && r.ContainerAmount != sum {
		c.add(drsapi.CodeInconsistent, "containerAmount", nil, fmt.Sprint(r.ContainerAmount), fmt.Sprint(sum))
	}
	return r, c
}

func checkSeal(body []byte) (drsapi.BagSeal, *checker) {
	c := &checker{}
	var s drsapi.BagSeal
	if c.object(body, "", nil, sealShape); !c.ok() {
		return s, c
	}
	if c.decode(body, &s); !c.ok() {
		return s, c
	}
	c.uuid(s.BagID, "bagId", nil, true)
	c.uuid(s.LockingPersonID, "lockingPersonId", nil, false)
	c.dateTime(s.SealTime, "sealTime", true)
	if strings.TrimSpace(s.SealNumber) == "" {
		c.add(drsapi.CodeRequired, "sealNumber", nil)
	}
	c.length(s.SealNumber, "sealNumber", nil, drsapi.MaxIDLen)
	return s, c
}

func checkMachine(body []byte) (drsapi.MachineUpdate, *checker) {
	c := &checker{}
	var m drsapi.MachineUpdate
	obj := c.object(body, "", nil, machineShape)
	if obj == nil {
		return m, c
	}
	for i, raw := range c.array(obj, "bins", "", nil) {
		if c.object(raw, "bins", []int{i}, binShape) != nil {
			c.decodeRow(raw, "bins", []int{i}, new(drsapi.BinPost))
		}
	}
	if !c.ok() {
		return m, c
	}
	if c.decode(body, &m); !c.ok() {
		return m, c
	}
	c.uuid(m.ID, "id", nil, false)
	if strings.TrimSpace(m.SerialNumber) == "" {
		c.add(drsapi.CodeRequired, "serialNumber", nil)
	}
	if strings.TrimSpace(m.DrsCpNo) == "" {
		c.add(drsapi.CodeRequired, "drsCpNo", nil)
	}
	c.length(m.SerialNumber, "serialNumber", nil, drsapi.MaxSerialLen)
	c.length(m.DrsCpNo, "drsCpNo", nil, drsapi.MaxIDLen)
	for i, b := range m.Bins {
		for j, w := range b.WasteType {
			c.enum(w, "bins.wasteType", []int{i, j}, wasteTypes...)
		}
		if b.Litrage < 0 {
			c.add(drsapi.CodeValueTooLow, "bins.litrage", []int{i}, "0")
		}
	}
	return m, c
}

func checkRedeem(body []byte) (drsapi.VoucherRedeem, time.Time, *checker) {
	c := &checker{}
	var v drsapi.VoucherRedeem
	if c.object(body, "", nil, redeemShape); !c.ok() {
		return v, time.Time{}, c
	}
	if c.decode(body, &v); !c.ok() {
		return v, time.Time{}, c
	}
	if strings.TrimSpace(v.ID) == "" {
		c.add(drsapi.CodeRequired, "id", nil)
	}
	c.length(v.ID, "id", nil, drsapi.MaxIDLen)
	// RedeemType of a redemption: 0 (valid, not redeemed) is not one.
	c.enum(v.RedeemType, "redeemType", nil, 1, 2, 3, 99)
	at := c.dateTime(v.RedeemDate, "redeemDate", true)
	c.uuid(v.RvmID, "rvmId", nil, false)
	return v, at, c
}
