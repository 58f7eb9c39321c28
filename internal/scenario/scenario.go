package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Op is what a step does.
type Op string

// The ops a scenario may use.
const (
	OpStart       Op = "start"
	OpInsert      Op = "insert"
	OpFinish      Op = "finish"
	OpWait        Op = "wait"
	OpBagExchange Op = "bag-exchange"
	OpSealReplace Op = "seal-replace"
	OpPowerCut    Op = "power-cut"
	OpFault       Op = "fault"
	OpService     Op = "service"
)

// Values of the enumerated fields.
const (
	BarcodeOK      = "ok"
	BarcodeDamaged = "damaged"
	BarcodeMissing = "missing"

	CutScanned = "scanned"
	CutChamber = "chamber"
	CutBag     = "bag"

	PayoutVoucher  = "voucher"
	PayoutDonation = "donation"
	PayoutDigital  = "digital"
	PayoutAccount  = "account" // credited to the phone's deposit account

	FaultJam         = "jam"
	FaultScannerDead = "scanner-dead"
	FaultDoorOpen    = "door-open"

	ActionClear = "clear"
)

// DefaultInsertGap is an insert's gap when the step gives no gap_ms: about
// the pace of a customer feeding containers one by one.
const DefaultInsertGap = 1500 * time.Millisecond

// Step is one line of a scenario. Only the fields of its Op are set.
type Step struct {
	Line int // in the file, counting from 1
	Op   Op

	// start
	At    time.Time // zero when absent
	RvmID string
	Seed  *int64

	// insert (Gap also for every other op except start)
	EAN                  string
	Gap                  time.Duration
	WeightG              *float64
	Metal                *bool
	HeightMM, DiameterMM *float64
	Barcode              string // "ok" when absent
	Pullback             bool
	CutAt                string // "" when absent

	// finish
	Payout string
	Phone  string

	// wait
	Wait time.Duration

	// bag-exchange
	Seal, Staff string
	Bin         int // 1 when absent

	// seal-replace
	Old, New string

	// fault
	Kind string

	// service
	Action string
}

// Errors a *LineError wraps.
var (
	ErrSyntax       = errors.New("scenario: not one JSON object")
	ErrUnknownOp    = errors.New("scenario: unknown op")
	ErrUnknownField = errors.New("scenario: unknown field")
	ErrType         = errors.New("scenario: wrong type")
	ErrValue        = errors.New("scenario: bad value")
	ErrMissing      = errors.New("scenario: missing field")
	ErrStart        = errors.New("scenario: start is not the first step")
)

// LineError is a malformed line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("scenario: line %d: %s", e.Line, strings.TrimPrefix(e.Err.Error(), "scenario: "))
}

func (e *LineError) Unwrap() error { return e.Err }

// fields lists, per op, the keys a step may carry besides "op".
var fields = map[Op][]string{
	OpStart:       {"at", "rvmId", "seed"},
	OpInsert:      {"ean", "gap_ms", "weight_g", "metal", "height_mm", "diameter_mm", "barcode", "pullback", "cut_at"},
	OpFinish:      {"gap_ms", "payout", "phone"},
	OpWait:        {"gap_ms", "ms"},
	OpBagExchange: {"gap_ms", "seal", "staff", "bin"},
	OpSealReplace: {"gap_ms", "old", "new"},
	OpPowerCut:    {"gap_ms"},
	OpFault:       {"gap_ms", "kind"},
	OpService:     {"gap_ms", "action"},
}

// maxLine bounds one line; a scenario line is a few hundred bytes.
const maxLine = 1 << 20

// Parse reads a whole scenario. The first malformed line stops it with a
// *LineError naming the line.
func Parse(r io.Reader) ([]Step, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var steps []Step
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		st, err := parseLine(line)
		if err == nil && st.Op == OpStart && len(steps) > 0 {
			err = fmt.Errorf("%w (first step is line %d)", ErrStart, steps[0].Line)
		}
		if err != nil {
			return nil, &LineError{Line: n, Err: err}
		}
		st.Line = n
		steps = append(steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, &LineError{Line: n + 1, Err: fmt.Errorf("scenario: %w", err)}
	}
	return steps, nil
}

func parseLine(line []byte) (Step, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return Step{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if obj == nil {
		return Step{}, fmt.Errorf("%w: null", ErrSyntax)
	}
	f := fieldReader{obj: obj}
	var op string
	if !f.str("op", &op) {
		if f.err != nil {
			return Step{}, f.err
		}
		return Step{}, fmt.Errorf(`%w "op"`, ErrMissing)
	}
	st := Step{Op: Op(op)}
	allowed, ok := fields[st.Op]
	if !ok {
		return Step{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownOp, op, strings.Join(opNames(), ", "))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same unknown field every run
	for _, k := range keys {
		if k != "op" && !slices.Contains(allowed, k) {
			return Step{}, fmt.Errorf("%w %q for %s (it takes %s)", ErrUnknownField, k, op, strings.Join(allowed, ", "))
		}
	}
	if st.Op == OpInsert {
		st.Gap = DefaultInsertGap
	}
	if st.Op != OpStart {
		f.duration("gap_ms", &st.Gap)
	}
	switch st.Op {
	case OpStart:
		f.time("at", &st.At)
		f.str("rvmId", &st.RvmID)
		var seed int64
		if f.int("seed", &seed) {
			st.Seed = &seed
		}
	case OpInsert:
		f.str("ean", &st.EAN)
		st.WeightG = f.optFloat("weight_g")
		var metal bool
		if f.bool("metal", &metal) {
			st.Metal = &metal
		}
		st.HeightMM = f.optFloat("height_mm")
		st.DiameterMM = f.optFloat("diameter_mm")
		st.Barcode = BarcodeOK
		f.enum("barcode", &st.Barcode, BarcodeOK, BarcodeDamaged, BarcodeMissing)
		f.bool("pullback", &st.Pullback)
		f.enum("cut_at", &st.CutAt, CutScanned, CutChamber, CutBag)
		if f.err == nil && st.EAN == "" && st.Barcode != BarcodeMissing {
			f.err = fmt.Errorf(`%w "ean" (only a "missing" barcode has none)`, ErrMissing)
		}
	case OpFinish:
		// A customer who just walks up and presses "finish" gets the
		// printed voucher: payout defaults to "voucher".
		st.Payout = PayoutVoucher
		f.enum("payout", &st.Payout, PayoutVoucher, PayoutDonation, PayoutDigital, PayoutAccount)
		f.str("phone", &st.Phone)
		if f.err == nil {
			f.phone(st.Payout, st.Phone)
		}
	case OpWait:
		f.required("ms")
		f.duration("ms", &st.Wait)
	case OpBagExchange:
		f.required("seal")
		f.nonEmpty("seal", &st.Seal)
		f.str("staff", &st.Staff)
		st.Bin = 1
		var bin int64
		if f.int("bin", &bin) {
			if bin < 1 || bin > 1<<16 {
				f.fail(fmt.Errorf(`%w: field "bin": %d is not a bin number (1 or more)`, ErrValue, bin))
			}
			st.Bin = int(bin)
		}
	case OpSealReplace:
		f.required("old")
		f.required("new")
		f.nonEmpty("old", &st.Old)
		f.nonEmpty("new", &st.New)
	case OpPowerCut:
	case OpFault:
		f.required("kind")
		f.enum("kind", &st.Kind, FaultJam, FaultScannerDead, FaultDoorOpen)
	case OpService:
		f.required("action")
		f.enum("action", &st.Action, ActionClear)
	}
	if f.err != nil {
		return Step{}, f.err
	}
	return st, nil
}

func opNames() []string {
	names := make([]string, 0, len(fields))
	for op := range fields {
		names = append(names, string(op))
	}
	sort.Strings(names)
	return names
}

// fieldReader decodes the fields of one step, keeping the first error so
// that the op's code reads as a list of fields rather than of error checks.
type fieldReader struct {
	obj map[string]json.RawMessage
	err error
}

func (f *fieldReader) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// get decodes key into dst and reports whether it was present and valid.
func (f *fieldReader) get(key string, dst any, want string) bool {
	raw, ok := f.obj[key]
	if !ok || f.err != nil {
		return false
	}
	if string(raw) == "null" {
		f.fail(fmt.Errorf("%w: field %q: null (want %s; leave the field out instead)", ErrType, key, want))
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		f.fail(fmt.Errorf("%w: field %q: %s (want %s)", ErrType, key, raw, want))
		return false
	}
	return true
}

func (f *fieldReader) required(key string) {
	if _, ok := f.obj[key]; !ok {
		f.fail(fmt.Errorf("%w %q", ErrMissing, key))
	}
}

func (f *fieldReader) str(key string, dst *string) bool {
	return f.get(key, dst, "a string")
}

func (f *fieldReader) nonEmpty(key string, dst *string) {
	if f.str(key, dst) && *dst == "" {
		f.fail(fmt.Errorf("%w: field %q is empty", ErrValue, key))
	}
}

func (f *fieldReader) bool(key string, dst *bool) bool {
	return f.get(key, dst, "true or false")
}

func (f *fieldReader) int(key string, dst *int64) bool {
	return f.get(key, dst, "an integer")
}

func (f *fieldReader) time(key string, dst *time.Time) {
	f.get(key, dst, "an RFC 3339 time")
}

// optFloat returns a non-negative number, or nil when the field is absent.
func (f *fieldReader) optFloat(key string) *float64 {
	var v float64
	if !f.get(key, &v, "a number") {
		return nil
	}
	if v < 0 {
		f.fail(fmt.Errorf("%w: field %q: %v is negative", ErrValue, key, v))
		return nil
	}
	return &v
}

// duration reads a non-negative integer number of milliseconds.
func (f *fieldReader) duration(key string, dst *time.Duration) bool {
	var ms int64
	if !f.int(key, &ms) {
		return false
	}
	// A year is far beyond any scenario, and keeps the product in range.
	if ms < 0 || ms > 366*24*3600*1000 {
		f.fail(fmt.Errorf("%w: field %q: %d ms is negative or over a year", ErrValue, key, ms))
		return false
	}
	*dst = time.Duration(ms) * time.Millisecond
	return true
}

func (f *fieldReader) enum(key string, dst *string, values ...string) {
	var v string
	if !f.str(key, &v) {
		return
	}
	if !slices.Contains(values, v) {
		f.fail(fmt.Errorf("%w: field %q: %q is not one of %s", ErrValue, key, v, strings.Join(values, ", ")))
		return
	}
	*dst = v
}

// phone checks that a digital payout has a nine-digit Polish mobile number
// (where the code is sent by SMS).
func (f *fieldReader) phone(payout, phone string) {
	if payout != PayoutDigital && payout != PayoutAccount {
		return // a phone number given with a printed voucher is not used
	}
	if _, err := strconv.ParseUint(phone, 10, 64); len(phone) != 9 || err != nil {
		f.fail(fmt.Errorf(`%w: field "phone": %q is not nine digits (payout %q goes to a phone)`, ErrValue, phone, payout))
	}
}
