package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ContainerBatch is the body of a "containers" event: a run of one
// session's containers, in the order they were decided. A machine writes
// one when the run reaches its configured size or age, and always before
// the session's transaction, so the batches and the transaction keep their
// order. Its id is derived from the session and the first container
// (ContainerBatchID in machine/ledger): the same batch always has the same
// id, and the gateway counts it once.
//
// On the wire a batch is a BatchWire: its EANs once and a row of numbers
// per container, a quarter of the size of an object per container. MarshalJSON writes
// that form; UnmarshalJSON reads it and the object form that ledgers wrote
// before it.
type ContainerBatch struct {
	TransactionID string
	BagID         string
	Containers    []BatchContainer
}

// BatchContainer is one container of a ContainerBatch; the fields mean what
// they mean in ContainerEvent. DecidedAt is RFC 3339 with fractions.
type BatchContainer struct {
	EAN                string `json:"ean"`
	RejectionCauseCode int    `json:"rejectionCauseCode"`
	WeightMg           int64  `json:"weightMg"`
	DepositGrosze      int64  `json:"depositGrosze"`
	DecidedAt          string `json:"decidedAt"`
}

// The columns of a BatchWire row.
const (
	RowEAN     = iota // index into EANs
	RowCause          // rejectionCauseCode, 0 accepted
	RowWeight         // weightMg
	RowDeposit        // depositGrosze
	RowAfter          // nanoseconds after FirstDecidedAt (negative after the clock stepped back)
	rowColumns
)

// BatchWire is a "containers" body as it travels: the session, the bag,
// the first container's decision time, the distinct EANs in the order they
// first appear, and one row per container (the Row* columns). Containers
// holds instead the object form of ledgers before rows; a body has one
// form or the other.
type BatchWire struct {
	TransactionID  string           `json:"transactionId"`
	BagID          string           `json:"bagId,omitempty"`
	FirstDecidedAt string           `json:"firstDecidedAt,omitempty"`
	EANs           []string         `json:"eans,omitempty"`
	Rows           BatchRows        `json:"rows,omitempty"`
	Containers     []BatchContainer `json:"containers,omitempty"`
}

// Validate reports the first thing wrong with w: both forms at once, a row
// of the wrong width, an EAN index out of range, a negative cause or
// deposit, or an unreadable first decision time.
func (w *BatchWire) Validate() error {
	if len(w.Rows) > 0 && len(w.Containers) > 0 {
		return errors.New("containers batch: both rows and containers")
	}
	if len(w.Rows) == 0 {
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, w.FirstDecidedAt); err != nil {
		return fmt.Errorf("containers batch: firstDecidedAt: %w", err)
	}
	for i, r := range w.Rows {
		switch {
		case r[RowEAN] < 0 || r[RowEAN] >= int64(len(w.EANs)):
			return fmt.Errorf("containers batch: rows[%d] names EAN %d of %d", i, r[RowEAN], len(w.EANs))
		case r[RowCause] < 0 || r[RowCause] > 1<<31-1:
			return fmt.Errorf("containers batch: rows[%d] has rejection cause %d", i, r[RowCause])
		case r[RowDeposit] < 0:
			return fmt.Errorf("containers batch: rows[%d] has deposit %d", i, r[RowDeposit])
		}
	}
	return nil
}

// Len is the number of containers in w.
func (w *BatchWire) Len() int { return len(w.Rows) + len(w.Containers) }

// Each calls fn with each container's rejection cause and deposit, in
// order, without decoding EANs or times: what the gateway counts. w must
// be valid.
func (w *BatchWire) Each(fn func(cause int, depositGrosze int64)) {
	for _, r := range w.Rows {
		fn(int(r[RowCause]), r[RowDeposit])
	}
	for _, c := range w.Containers {
		fn(c.RejectionCauseCode, c.DepositGrosze)
	}
}

// MarshalJSON writes b in the row form (a batch without containers has no
// rows). A container whose DecidedAt is not RFC 3339 is an error; one
// decided before the first (the clock stepped back) has a negative offset.
func (b ContainerBatch) MarshalJSON() ([]byte, error) {
	w := BatchWire{TransactionID: b.TransactionID, BagID: b.BagID, Rows: make(BatchRows, 0, len(b.Containers))}
	var first time.Time
	index := map[string]int64{}
	for i, c := range b.Containers {
		at, err := time.Parse(time.RFC3339Nano, c.DecidedAt)
		if err != nil {
			return nil, fmt.Errorf("containers batch: container %d: decidedAt: %w", i, err)
		}
		if i == 0 {
			first, w.FirstDecidedAt = at, at.UTC().Format(time.RFC3339Nano)
		}
		after := at.Sub(first)
		e, ok := index[c.EAN]
		if !ok {
			e = int64(len(w.EANs))
			index[c.EAN] = e
			w.EANs = append(w.EANs, c.EAN)
		}
		w.Rows = append(w.Rows, BatchRow{e, int64(c.RejectionCauseCode), c.WeightMg, c.DepositGrosze, int64(after)})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads either form. Decision times come back as they were
// written (the row form keeps nanoseconds), in UTC.
func (b *ContainerBatch) UnmarshalJSON(data []byte) error {
	var w BatchWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if err := w.Validate(); err != nil {
		return err
	}
	*b = ContainerBatch{TransactionID: w.TransactionID, BagID: w.BagID, Containers: w.Containers}
	if len(w.Rows) == 0 {
		return nil
	}
	first, _ := time.Parse(time.RFC3339Nano, w.FirstDecidedAt) // valid
	b.Containers = make([]BatchContainer, len(w.Rows))
	for i, r := range w.Rows {
		at := first.Add(time.Duration(r[RowAfter])).UTC().Format(time.RFC3339Nano)
		b.Containers[i] = BatchContainer{EAN: w.EANs[r[RowEAN]], RejectionCauseCode: int(r[RowCause]),
			WeightMg: r[RowWeight], DepositGrosze: r[RowDeposit], DecidedAt: at}
	}
	return nil
}

// BatchRow is one container of a BatchWire: the Row* columns.
type BatchRow [rowColumns]int64

// BatchRows is the rows of a BatchWire. It reads itself: a batch is
// mostly rows, and encoding/json's reflection over fifty small arrays was
// the larger part of the gateway's work on a batch.
type BatchRows []BatchRow

// MarshalJSON writes the rows as arrays of integers.
func (rs BatchRows) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(rs)*32)
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		for j, v := range r {
			if j == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads an array of rows, each an array of exactly
// rowColumns integers (no fractions, no exponents, within int64), or null.
func (rs *BatchRows) UnmarshalJSON(data []byte) error {
	if err := rs.read(data); err != nil {
		return fmt.Errorf("containers batch: rows%w", err)
	}
	return nil
}

// rowError is an error at row i, column j (j < 0: the row itself).
func rowError(i, j int, err error) error {
	if j < 0 {
		return fmt.Errorf("[%d]: %w", i, err)
	}
	return fmt.Errorf("[%d][%d]: %w", i, j, err)
}

func (rs *BatchRows) read(data []byte) error {
	p := rowParser{b: data}
	if p.literal("null") {
		*rs = nil
		if err := p.end(); err != nil {
			return fmt.Errorf(": %w", err)
		}
		return nil
	}
	out := (*rs)[:0]
	if out == nil {
		out = BatchRows{}
	}
	if err := p.expect('['); err != nil {
		return fmt.Errorf(": %w", err)
	}
	if !p.peek(']') {
		for {
			var r BatchRow
			if err := p.expect('['); err != nil {
				return rowError(len(out), -1, err)
			}
			for j := range r {
				if j > 0 && !p.peek(',') {
					return rowError(len(out), -1, fmt.Errorf("%d columns, want %d", j, rowColumns))
				}
				if j > 0 {
					p.i++
				}
				v, err := p.integer()
				if err != nil {
					return rowError(len(out), j, err)
				}
				r[j] = v
			}
			if !p.peek(']') {
				if p.i < len(p.b) && p.b[p.i] == ',' {
					return rowError(len(out), -1, fmt.Errorf("more than %d columns", rowColumns))
				}
				return rowError(len(out), -1, p.unexpected("']'"))
			}
			p.i++
			out = append(out, r)
			if !p.peek(',') {
				break
			}
			p.i++
		}
	}
	if err := p.expect(']'); err != nil {
		return fmt.Errorf(": %w", err)
	}
	*rs = out
	if err := p.end(); err != nil {
		return fmt.Errorf(": %w", err)
	}
	return nil
}

// rowParser reads the JSON of BatchRows: b, from i on.
type rowParser struct {
	b []byte
	i int
}

func (p *rowParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// peek skips white space and reports whether the next byte is c.
func (p *rowParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.b) && p.b[p.i] == c
}

func (p *rowParser) expect(c byte) error {
	if !p.peek(c) {
		return p.unexpected(fmt.Sprintf("%q", c))
	}
	p.i++
	return nil
}

func (p *rowParser) literal(s string) bool {
	p.space()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *rowParser) end() error {
	p.space()
	if p.i != len(p.b) {
		return p.unexpected("the end")
	}
	return nil
}

func (p *rowParser) unexpected(want string) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("want %s, found the end", want)
	}
	return fmt.Errorf("want %s at offset %d, found %q", want, p.i, p.b[p.i])
}

// integer reads a JSON number that is an integer within int64.
func (p *rowParser) integer() (int64, error) {
	p.space()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	switch {
	case p.i == digits:
		return 0, p.unexpected("an integer")
	case p.i-digits > 1 && p.b[digits] == '0':
		return 0, fmt.Errorf("number %s has a leading zero", p.b[start:p.i])
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return 0, fmt.Errorf("want an integer, found a number with a fraction or exponent at offset %d", start)
	}
	neg := digits > start
	var v uint64
	over := false
	for _, c := range p.b[digits:p.i] {
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			over = true
			break
		}
		v = v*10 + d
	}
	switch {
	case over:
	case neg && v <= 1<<63:
		return -int64(v-1) - 1, nil
	case !neg && v < 1<<63:
		return int64(v), nil
	}
	return 0, fmt.Errorf("number %s out of range", p.b[start:p.i])
}
