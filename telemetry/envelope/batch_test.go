package envelope

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// A session's run: EANs repeated, a rejection, nanoseconds, a clock that
// stepped back.
var sampleBatch = ContainerBatch{TransactionID: "0b5e3a52-1c7d-4f4e-9a61-2f0c8e7d9b10", BagID: "BAG-7", Containers: []BatchContainer{
	{EAN: "5901234123457", WeightMg: 24000, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:00.123456789Z"},
	{EAN: "5449000000996", WeightMg: 38000, DepositGrosze: 50, DecidedAt: "2026-05-01T12:00:02Z"},
	{EAN: "5901234123457", RejectionCauseCode: 3, WeightMg: 61000, DecidedAt: "2026-05-01T12:00:03.5Z"},
	{EAN: "5901234123457", WeightMg: 23800, DepositGrosze: 50, DecidedAt: "2026-05-01T11:59:59.9Z"},
}}

func TestBatchWireForm(t *testing.T) {
	got, err := json.Marshal(sampleBatch)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "batch.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("json.Marshal(batch) =\n%s\nwant (%s)\n%s", got, golden, want)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   ContainerBatch
	}{
		{"mixed", sampleBatch},
		{"one container", ContainerBatch{TransactionID: "t", Containers: sampleBatch.Containers[:1]}},
		{"empty", ContainerBatch{TransactionID: "t", BagID: "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var out ContainerBatch
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", b, err)
			}
			if !reflect.DeepEqual(out, tt.in) {
				t.Errorf("round trip of %s =\n%+v\nwant\n%+v", b, out, tt.in)
			}
		})
	}
}

// A ledger written before rows holds batches in the object form: they
// still read, and count, the same.
func TestBatchObjectForm(t *testing.T) {
	old, _ := json.Marshal(struct {
		TransactionID string           `json:"transactionId"`
		BagID         string           `json:"bagId"`
		Containers    []BatchContainer `json:"containers"`
	}{sampleBatch.TransactionID, sampleBatch.BagID, sampleBatch.Containers})
	var got ContainerBatch
	if err := json.Unmarshal(old, &got); err != nil || !reflect.DeepEqual(got, sampleBatch) {
		t.Fatalf("Unmarshal(object form) = %+v, %v; want %+v", got, err, sampleBatch)
	}
	rows, _ := json.Marshal(sampleBatch)
	if a, b := tally(t, old), tally(t, rows); a != b || a != [3]int64{3, 1, 150} {
		t.Errorf("tally(object form) = %v, tally(rows) = %v; want both [3 1 150]", a, b)
	}
}

// tally decodes body as the gateway does and returns accepted, rejected
// and the accepted deposits.
func tally(t *testing.T, body []byte) [3]int64 {
	t.Helper()
	var w BatchWire
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	var n [3]int64
	w.Each(func(cause int, dep int64) {
		if cause == 0 {
			n[0]++
			n[2] += dep
		} else {
			n[1]++
		}
	})
	if int64(w.Len()) != n[0]+n[1] {
		t.Errorf("Len() = %d; Each saw %d", w.Len(), n[0]+n[1])
	}
	return n
}

func TestBatchInvalid(t *testing.T) {
	const head = `{"transactionId":"t","firstDecidedAt":"2026-05-01T12:00:00Z","eans":["5901234123457"],`
	tests := []struct{ body, want string }{
		{head + `"rows":[[0,0,24000,50]]}`, "rows[0]: 4 columns, want 5"},
		{head + `"rows":[[0,0,24000,50,0],[0,0,24000,50,0,9]]}`, "rows[1]: more than 5 columns"},
		{head + `"rows":[[1,0,24000,50,0]]}`, "names EAN 1 of 1"},
		{head + `"rows":[[-1,0,24000,50,0]]}`, "names EAN -1"},
		{head + `"rows":[[0,-2,24000,50,0]]}`, "rejection cause -2"},
		{head + `"rows":[[0,4294967296,24000,50,0]]}`, "rejection cause 4294967296"},
		{head + `"rows":[[0,0,24000,-50,0]]}`, "deposit -50"},
		{head + `"rows":[[0,0,24000,50,0]],"containers":[{"ean":"5901234123457"}]}`, "both rows and containers"},
		{`{"transactionId":"t","eans":["5901234123457"],"rows":[[0,0,24000,50,0]]}`, "firstDecidedAt"},
		{`{"transactionId":"t","firstDecidedAt":"noon","eans":["5901234123457"],"rows":[[0,0,24000,50,0]]}`, "firstDecidedAt"},
		{head + `"rows":[[0,0,24000,50.5,0]]}`, "rows[0][3]: want an integer, found a number with a fraction"},
		{head + `"rows":[[0,0,24000,5e1,0]]}`, "rows[0][3]: want an integer, found a number with a fraction or exponent"},
		{head + `"rows":[[0,0,99999999999999999999,50,0]]}`, "rows[0][2]: number 99999999999999999999 out of range"},
		{head + `"rows":[["0",0,24000,50,0]]}`, `rows[0][0]: want an integer at offset 2, found '"'`},
		{head + `"rows":{}}`, "rows: want '[' at offset 0, found '{'"},
	}
	for _, tt := range tests {
		var b ContainerBatch
		err := json.Unmarshal([]byte(tt.body), &b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) = %v; want an error with %q", tt.body, err, tt.want)
		}
	}
	// What encoding/json's own check would catch first, given to the rows
	// directly.
	syntax := []struct{ rows, want string }{
		{`[[0,0,024000,50,0]]`, "rows[0][2]: number 024000 has a leading zero"},
		{`[[0,0,24000,50,-]]`, "rows[0][4]: want an integer at offset 16, found ']'"},
		{`[[0,0,24000,50,0],]`, "rows[1]: want '[' at offset 18, found ']'"},
		{`[[0,0,24000,50,0] [0,0,24000,50,0]]`, "rows: want ']' at offset 18, found '['"},
		{`[[0,0,24000,50,0]] x`, "rows: want the end at offset 19, found 'x'"},
		{`[[0,0,24000,50`, "rows[0]: 4 columns, want 5"},
		{`[[0,0,24000,50,0`, "rows[0]: want ']', found the end"},
		{`[[0,0,24000,50,0 1]]`, "rows[0]: want ']' at offset 17, found '1'"},
		{`nullx`, "rows: want the end at offset 4"},
		{``, "rows: want '[', found the end"},
	}
	for _, tt := range syntax {
		var rs BatchRows
		if err := rs.UnmarshalJSON([]byte(tt.rows)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("BatchRows.UnmarshalJSON(%s) = %v; want an error with %q", tt.rows, err, tt.want)
		}
	}
	if _, err := json.Marshal(ContainerBatch{Containers: []BatchContainer{{EAN: "5901234123457", DecidedAt: "noon"}}}); err == nil {
		t.Error("Marshal of a container decided at \"noon\" = nil error")
	}
}

// Rows read with white space anywhere JSON allows it, and as null.
func TestBatchRowsSpacing(t *testing.T) {
	tests := []struct {
		in   string
		want BatchRows
	}{
		{" [ [ 0 , 1 , -2 , 3 , 4 ] ,\n\t[5,6,7,8,-9223372036854775808] ] ", BatchRows{{0, 1, -2, 3, 4}, {5, 6, 7, 8, -1 << 63}}},
		{"[]", BatchRows{}},
		{"null", nil},
	}
	for _, tt := range tests {
		var got BatchRows
		if err := got.UnmarshalJSON([]byte(tt.in)); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UnmarshalJSON(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzBatch(f *testing.F) {
	b, _ := json.Marshal(sampleBatch)
	f.Add(b)
	f.Add([]byte(`{"transactionId":"t","containers":[{"ean":"1","decidedAt":"2026-05-01T12:00:00Z"}]}`))
	f.Add([]byte(`{"transactionId":"t","firstDecidedAt":"2026-05-01T12:00:00+02:00","eans":["1"],"rows":[[0,0,1,1,-5]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in ContainerBatch
		if json.Unmarshal(data, &in) != nil {
			return
		}
		out, err := json.Marshal(in)
		if err != nil {
			return // an object-form container with an unreadable time
		}
		var again ContainerBatch
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("Unmarshal(Marshal(%s)) = %v", data, err)
		}
		// What was read once reads the same again.
		var norm ContainerBatch
		if err := json.Unmarshal(out, &norm); err != nil || !reflect.DeepEqual(again, norm) {
			t.Fatalf("not stable: %+v vs %+v", again, norm)
		}
		if len(again.Containers) != len(in.Containers) {
			t.Fatalf("%d containers became %d", len(in.Containers), len(again.Containers))
		}
	})
}

// The gateway's work on a batch of fifty: decode, validate, count.
func BenchmarkBatchTally(b *testing.B) {
	var cs []BatchContainer
	for i := range 50 {
		cs = append(cs, BatchContainer{EAN: []string{"5901234123457", "5449000000996", "5900990000019"}[i%3],
			WeightMg: 24000 + int64(i), DepositGrosze: 50, DecidedAt: fmt.Sprintf("2026-05-01T12:00:%02d.%09dZ", i, i*7919)})
	}
	rows, _ := json.Marshal(ContainerBatch{TransactionID: "0b5e3a52-1c7d-4f4e-9a61-2f0c8e7d9b10", BagID: "BAG-7", Containers: cs})
	objects, _ := json.Marshal(struct {
		TransactionID string           `json:"transactionId"`
		BagID         string           `json:"bagId"`
		Containers    []BatchContainer `json:"containers"`
	}{"0b5e3a52-1c7d-4f4e-9a61-2f0c8e7d9b10", "BAG-7", cs})
	for _, bc := range []struct {
		name string
		body []byte
	}{{"rows", rows}, {"objects", objects}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				var w BatchWire
				if err := json.Unmarshal(bc.body, &w); err != nil || w.Validate() != nil {
					b.Fatal(err)
				}
				n := 0
				w.Each(func(int, int64) { n++ })
			}
		})
	}
}
