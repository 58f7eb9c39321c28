package scenario

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// format shows a step's set fields, pointers dereferenced, in a fixed order.
func format(st Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", st.Line, st.Op)
	add := func(name string, v any, zero bool) {
		if !zero {
			fmt.Fprintf(&b, " %s=%v", name, v)
		}
	}
	add("at", st.At.Format(time.RFC3339), st.At.IsZero())
	add("rvmId", st.RvmID, st.RvmID == "")
	if st.Seed != nil {
		add("seed", *st.Seed, false)
	}
	add("ean", fmt.Sprintf("%q", st.EAN), st.EAN == "")
	add("gap", st.Gap, st.Gap == 0)
	if st.WeightG != nil {
		add("weight_g", *st.WeightG, false)
	}
	if st.Metal != nil {
		add("metal", *st.Metal, false)
	}
	if st.HeightMM != nil {
		add("height_mm", *st.HeightMM, false)
	}
	if st.DiameterMM != nil {
		add("diameter_mm", *st.DiameterMM, false)
	}
	add("barcode", st.Barcode, st.Barcode == "")
	add("pullback", st.Pullback, !st.Pullback)
	add("cut_at", st.CutAt, st.CutAt == "")
	add("payout", st.Payout, st.Payout == "")
	add("phone", st.Phone, st.Phone == "")
	add("wait", st.Wait, st.Wait == 0)
	add("seal", st.Seal, st.Seal == "")
	add("staff", st.Staff, st.Staff == "")
	add("bin", st.Bin, st.Bin == 0)
	add("old", st.Old, st.Old == "")
	add("new", st.New, st.New == "")
	add("kind", st.Kind, st.Kind == "")
	add("action", st.Action, st.Action == "")
	return b.String()
}

func formatAll(steps []Step) string {
	var b strings.Builder
	for _, st := range steps {
		b.WriteString(format(st) + "\n")
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"all-ops", "crlf"} {
		f, err := os.Open(filepath.Join("testdata", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		steps, err := Parse(f)
		f.Close()
		if err != nil {
			t.Fatalf("Parse(%s) = %v", name, err)
		}
		got := formatAll(steps)
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if got != string(want) {
			t.Errorf("Parse(%s) differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", name, path, got, want)
		}
	}
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }
func boolp(v bool) *bool     { return &v }

func TestParseOps(t *testing.T) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		line string
		want Step
	}{
		{`{"op":"start"}`, Step{Op: OpStart}},
		{`{"op":"start","at":"2026-01-05T09:00:00+01:00","rvmId":"r","seed":-3}`, Step{Op: OpStart, At: at.In(time.FixedZone("", 3600)), RvmID: "r", Seed: i64(-3)}},
		{`{"op":"insert","ean":"5900541000178"}`, Step{Op: OpInsert, EAN: "5900541000178", Gap: 1500 * time.Millisecond, Barcode: "ok"}},
		{`{"op":"insert","ean":"x1","gap_ms":0,"weight_g":0,"metal":false,"height_mm":1.5,"diameter_mm":0,"barcode":"damaged","pullback":true,"cut_at":"bag"}`,
			Step{Op: OpInsert, EAN: "x1", WeightG: f64(0), Metal: boolp(false), HeightMM: f64(1.5), DiameterMM: f64(0), Barcode: "damaged", Pullback: true, CutAt: "bag"}},
		{`{"op":"insert","barcode":"missing","gap_ms":7}`, Step{Op: OpInsert, Gap: 7 * time.Millisecond, Barcode: "missing"}},
		{`{"op":"insert","ean":"","barcode":"missing"}`, Step{Op: OpInsert, Gap: 1500 * time.Millisecond, Barcode: "missing"}},
		{`{"op":"finish","payout":"voucher"}`, Step{Op: OpFinish, Payout: "voucher"}},
		{`{"op":"finish","payout":"donation","gap_ms":3}`, Step{Op: OpFinish, Payout: "donation", Gap: 3 * time.Millisecond}},
		{`{"op":"finish","payout":"digital","phone":"600100200"}`, Step{Op: OpFinish, Payout: "digital", Phone: "600100200"}},
		{`{"op":"finish","payout":"account","phone":"600100200"}`, Step{Op: OpFinish, Payout: "account", Phone: "600100200"}},
		{`{"op":"wait","ms":60000}`, Step{Op: OpWait, Wait: time.Minute}},
		{`{"op":"wait","ms":0,"gap_ms":1}`, Step{Op: OpWait, Gap: time.Millisecond}},
		{`{"op":"bag-exchange","seal":"s1","staff":"p","bin":3,"gap_ms":2}`, Step{Op: OpBagExchange, Seal: "s1", Staff: "p", Bin: 3, Gap: 2 * time.Millisecond}},
		{`{"op":"bag-exchange","seal":"s1"}`, Step{Op: OpBagExchange, Seal: "s1", Bin: 1}},
		{`{"op":"seal-replace","old":"a","new":"b"}`, Step{Op: OpSealReplace, Old: "a", New: "b"}},
		{`{"op":"power-cut"}`, Step{Op: OpPowerCut}},
		{`{"op":"power-cut","gap_ms":9}`, Step{Op: OpPowerCut, Gap: 9 * time.Millisecond}},
		{`{"op":"fault","kind":"jam"}`, Step{Op: OpFault, Kind: "jam"}},
		{`{"op":"fault","kind":"scanner-dead"}`, Step{Op: OpFault, Kind: "scanner-dead"}},
		{`{"op":"fault","kind":"door-open","gap_ms":4}`, Step{Op: OpFault, Kind: "door-open", Gap: 4 * time.Millisecond}},
		{`{"op":"service","action":"clear"}`, Step{Op: OpService, Action: "clear"}},
		{`{"action":"clear","op":"service"}`, Step{Op: OpService, Action: "clear"}},
	}
	for _, tt := range tests {
		steps, err := Parse(strings.NewReader(tt.line))
		tt.want.Line = 1
		if err != nil || len(steps) != 1 || !reflect.DeepEqual(steps[0], tt.want) {
			t.Errorf("Parse(%q) = %s, %v; want %s, nil", tt.line, formatAll(steps), err, format(tt.want))
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		want    string
	}{
		{`{"op":"insert"`, ErrSyntax, "scenario: line 1: not one JSON object: unexpected end of JSON input"},
		{`{"op":"finish","payout":"voucher"} x`, ErrSyntax, "scenario: line 1: not one JSON object: invalid character 'x' after top-level value"},
		{`[1]`, ErrSyntax, "scenario: line 1: not one JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{`null`, ErrSyntax, "scenario: line 1: not one JSON object: null"},
		{`{}`, ErrMissing, `scenario: line 1: missing field "op"`},
		{`{"op":3}`, ErrType, `scenario: line 1: wrong type: field "op": 3 (want a string)`},
		{`{"op":"jump"}`, ErrUnknownOp, `scenario: line 1: unknown op "jump" (want one of bag-exchange, fault, finish, insert, power-cut, seal-replace, service, start, wait)`},
		{`{"op":"Insert","ean":"1"}`, ErrUnknownOp, `scenario: line 1: unknown op "Insert"`},
		{"\n# c\n\n{\"op\":\"insert\",\"ean\":\"1\",\"wieght_g\":3}", ErrUnknownField,
			`scenario: line 4: unknown field "wieght_g" for insert (it takes ean, gap_ms, weight_g, metal, height_mm, diameter_mm, barcode, pullback, cut_at)`},
		{`{"op":"start","gap_ms":5}`, ErrUnknownField, `scenario: line 1: unknown field "gap_ms" for start`},
		{`{"op":"power-cut","ms":5}`, ErrUnknownField, `scenario: line 1: unknown field "ms" for power-cut`},
		{`{"op":"finish","payout":"voucher","ean":"1"}`, ErrUnknownField, `scenario: line 1: unknown field "ean" for finish`},
		{`{"op":"start","at":"yesterday"}`, ErrType, `scenario: line 1: wrong type: field "at": "yesterday" (want an RFC 3339 time)`},
		{`{"op":"start","seed":1.5}`, ErrType, `scenario: line 1: wrong type: field "seed": 1.5 (want an integer)`},
		{`{"op":"start","rvmId":7}`, ErrType, `scenario: line 1: wrong type: field "rvmId": 7 (want a string)`},
		{`{"op":"insert","ean":5900541000178}`, ErrType, `scenario: line 1: wrong type: field "ean": 5900541000178 (want a string)`},
		{`{"op":"insert","ean":"1","gap_ms":"5"}`, ErrType, `scenario: line 1: wrong type: field "gap_ms": "5" (want an integer)`},
		{`{"op":"insert","ean":"1","gap_ms":1.5}`, ErrType, `scenario: line 1: wrong type: field "gap_ms": 1.5 (want an integer)`},
		{`{"op":"insert","ean":"1","weight_g":"20"}`, ErrType, `scenario: line 1: wrong type: field "weight_g": "20" (want a number)`},
		{`{"op":"insert","ean":"1","weight_g":null}`, ErrType, `scenario: line 1: wrong type: field "weight_g": null (want a number; leave the field out instead)`},
		{`{"op":"insert","ean":"1","metal":1}`, ErrType, `scenario: line 1: wrong type: field "metal": 1 (want true or false)`},
		{`{"op":"insert","ean":"1","pullback":"yes"}`, ErrType, `scenario: line 1: wrong type: field "pullback": "yes" (want true or false)`},
		{`{"op":"insert","ean":"1","height_mm":[1]}`, ErrType, `scenario: line 1: wrong type: field "height_mm": [1] (want a number)`},
		{`{"op":"insert","ean":"1","gap_ms":-1}`, ErrValue, `scenario: line 1: bad value: field "gap_ms": -1 ms is negative or over a year`},
		{`{"op":"insert","ean":"1","weight_g":-0.5}`, ErrValue, `scenario: line 1: bad value: field "weight_g": -0.5 is negative`},
		{`{"op":"insert","ean":"1","height_mm":-1}`, ErrValue, `scenario: line 1: bad value: field "height_mm": -1 is negative`},
		{`{"op":"insert","ean":"1","diameter_mm":-1}`, ErrValue, `scenario: line 1: bad value: field "diameter_mm": -1 is negative`},
		{`{"op":"insert","ean":"1","barcode":"broken"}`, ErrValue, `scenario: line 1: bad value: field "barcode": "broken" is not one of ok, damaged, missing`},
		{`{"op":"insert","ean":"1","cut_at":"exit"}`, ErrValue, `scenario: line 1: bad value: field "cut_at": "exit" is not one of scanned, chamber, bag`},
		{`{"op":"insert"}`, ErrMissing, `scenario: line 1: missing field "ean" (only a "missing" barcode has none)`},
		{`{"op":"insert","barcode":"damaged"}`, ErrMissing, `scenario: line 1: missing field "ean"`},
		{`{"op":"insert","ean":"","barcode":"ok"}`, ErrMissing, `scenario: line 1: missing field "ean"`},
		{`{"op":"finish","payout":"cash"}`, ErrValue, `scenario: line 1: bad value: field "payout": "cash" is not one of voucher, donation, digital, account`},
		{`{"op":"finish","payout":"digital"}`, ErrValue, `scenario: line 1: bad value: field "phone": "" is not nine digits`},
		{`{"op":"finish","payout":"digital","phone":"60010020"}`, ErrValue, `scenario: line 1: bad value: field "phone": "60010020" is not nine digits`},
		{`{"op":"finish","payout":"digital","phone":"+48600100200"}`, ErrValue, `scenario: line 1: bad value: field "phone": "+48600100200" is not nine digits`},
		{`{"op":"finish","payout":"digital","phone":"60010020x"}`, ErrValue, `scenario: line 1: bad value: field "phone": "60010020x" is not nine digits`},
		{`{"op":"finish","payout":"digital","phone":600100200}`, ErrType, `scenario: line 1: wrong type: field "phone": 600100200 (want a string)`},
		{`{"op":"finish","payout":"voucher","gap_ms":-5}`, ErrValue, `scenario: line 1: bad value: field "gap_ms": -5 ms`},
		{`{"op":"wait"}`, ErrMissing, `scenario: line 1: missing field "ms"`},
		{`{"op":"wait","ms":-1}`, ErrValue, `scenario: line 1: bad value: field "ms": -1 ms is negative or over a year`},
		{`{"op":"wait","ms":99999999999999}`, ErrValue, `scenario: line 1: bad value: field "ms": 99999999999999 ms is negative or over a year`},
		{`{"op":"wait","ms":"60s"}`, ErrType, `scenario: line 1: wrong type: field "ms": "60s" (want an integer)`},
		{`{"op":"bag-exchange"}`, ErrMissing, `scenario: line 1: missing field "seal"`},
		{`{"op":"bag-exchange","seal":""}`, ErrValue, `scenario: line 1: bad value: field "seal" is empty`},
		{`{"op":"bag-exchange","seal":17}`, ErrType, `scenario: line 1: wrong type: field "seal": 17 (want a string)`},
		{`{"op":"bag-exchange","seal":"s","bin":0}`, ErrValue, `scenario: line 1: bad value: field "bin": 0 is not a bin number`},
		{`{"op":"bag-exchange","seal":"s","bin":"1"}`, ErrType, `scenario: line 1: wrong type: field "bin": "1" (want an integer)`},
		{`{"op":"bag-exchange","seal":"s","staff":1}`, ErrType, `scenario: line 1: wrong type: field "staff": 1 (want a string)`},
		{`{"op":"seal-replace","old":"a"}`, ErrMissing, `scenario: line 1: missing field "new"`},
		{`{"op":"seal-replace","new":"a"}`, ErrMissing, `scenario: line 1: missing field "old"`},
		{`{"op":"seal-replace","old":"","new":"a"}`, ErrValue, `scenario: line 1: bad value: field "old" is empty`},
		{`{"op":"power-cut","gap_ms":-1}`, ErrValue, `scenario: line 1: bad value: field "gap_ms": -1 ms`},
		{`{"op":"fault"}`, ErrMissing, `scenario: line 1: missing field "kind"`},
		{`{"op":"fault","kind":"fire"}`, ErrValue, `scenario: line 1: bad value: field "kind": "fire" is not one of jam, scanner-dead, door-open`},
		{`{"op":"service"}`, ErrMissing, `scenario: line 1: missing field "action"`},
		{`{"op":"service","action":"reset"}`, ErrValue, `scenario: line 1: bad value: field "action": "reset" is not one of clear`},
		{"{\"op\":\"insert\",\"ean\":\"1\"}\n{\"op\":\"start\"}", ErrStart, "scenario: line 2: start is not the first step (first step is line 1)"},
		{"# header\n{\"op\":\"start\"}\n{\"op\":\"start\"}", ErrStart, "scenario: line 3: start is not the first step (first step is line 2)"},
		{"{\"op\":\"insert\",\"ean\":\"1\"}\n" + strings.Repeat("x", maxLine+1), nil, "scenario: line 2: bufio.Scanner: token too long"},
	}
	for _, tt := range tests {
		steps, err := Parse(strings.NewReader(tt.in))
		var le *LineError
		if steps != nil || !errors.As(err, &le) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%.80q) = %v, %v; want nil, %v (%q)", tt.in, steps, err, tt.wantErr, tt.want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n   \n\t# another\n"} {
		steps, err := Parse(strings.NewReader(in))
		if len(steps) != 0 || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want no steps, nil", in, steps, err)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(failingReader{})
	if err == nil || err.Error() != "scenario: line 1: disk on fire" {
		t.Errorf("Parse(failing reader) = %v; want scenario: line 1: disk on fire", err)
	}
}
