package gateway

import (
	"fmt"
	"strings"
	"testing"
)

// An event speaks for one rvmId: the envelope's, and every rvmId member
// its body names, wherever it sits and however it is spelt, must agree.
func TestClaimedRvmID(t *testing.T) {
	tests := []struct {
		name, env, body string
		want            string // the rvmId the event speaks for
		reason          string // part of the refusal; "" for none
	}{
		{"no body rvmId", "AA", `{"id":"t1","containers":[{"ean":"5900000000001"}]}`, "aa", ""},
		{"the same, other case", "AA", `{"id":"t1","rvmId":"aa"}`, "aa", ""},
		{"another", "AA", `{"id":"t1","rvmId":"BB"}`, "", `body.rvmId names rvmId "bb"`},
		{"in a container", "AA", `{"containers":[{"rvmId":"aa"},{"ean":"x"},{"rvmId":"bb"}]}`, "",
			`body.containers[2].rvmId names rvmId "bb"`},
		{"nested arrays", "AA", `{"a":[[1,2],[{"b":{"RVMID":"cc"}}]]}`, "", `body.a[1][0].b.RVMID names rvmId "cc"`},
		{"an escaped name", "AA", `{"rvm\u0049d":"bb"}`, "", `body.rvmId names rvmId "bb"`},
		{"an escaped value", "AA", `{"rvmId":"\u0062b"}`, "", `names rvmId "bb"`},
		{"empty and null name none", "AA", `{"rvmId":"","x":{"rvmId":null}}`, "aa", ""},
		{"a number is not nothing", "AA", `{"rvmId":5}`, "", `body.rvmId names rvmId "5"`},
		{"an object is not nothing", "AA", `{"rvmId":{"rvmId":"aa"}}`, "", `names rvmId "{\"rvmid\":\"aa\"}"`},
		{"a repeated member counts twice", "AA", `{"rvmId":"bb","rvmId":"aa"}`, "", `names rvmId "bb"`},
		{"names in strings are not members", "AA", `{"note":"{\"rvmId\":\"bb\"}","rvm":["rvmId","bb"]}`, "aa", ""},
		{"a value that looks like a name", "AA", `{"x":"rvmId","y":["rvmId"]}`, "aa", ""},
		{"white space", "AA", "{ \"list\" : [ { \"rvmId\" :\n\"bb\" } ] }", "", `body.list[0].rvmId names rvmId "bb"`},
		{"no envelope rvmId: the body's", "", `{"rvmId":"BB","c":[{"rvmId":"bb"}]}`, "bb", ""},
		{"no envelope rvmId, two in the body", "", `{"rvmId":"BB","c":[{"rvmId":"cc"}]}`, "", `body.c[0].rvmId names rvmId "cc"; the event speaks for "bb"`},
		{"a scalar body", "AA", `"rvmId"`, "aa", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := claimedRvmID(tt.env, []byte(tt.body))
			if got != tt.want || (tt.reason == "") != (reason == "") || !strings.Contains(reason, tt.reason) {
				t.Errorf("claimedRvmID(%q, %s) = %q, %q; want %q, a reason with %q", tt.env, tt.body, got, reason, tt.want, tt.reason)
			}
		})
	}
}

// Text that is not JSON (the envelope's decoding lets none through) does
// not make the scan panic or run past its end.
func TestEachRvmIDOnBrokenText(t *testing.T) {
	for _, body := range []string{`{"rvmId"`, `{"rvmId":`, `{"rvmId":"a`, `]]}}{"rvmId":[`, `"\`, `{"a":"\"}`, `{"rvmId":{"a":"}`} {
		eachRvmID([]byte(body), func(func() string, string) bool { return true })
	}
}

// BenchmarkClaimedRvmID reads a transaction body of 82 container rows, a
// peak session's, for its rvmId members. Decoding it into maps, as the
// consumer did before, took 189 µs and 1,425 allocations (BENCHMARKS.md).
func BenchmarkClaimedRvmID(b *testing.B) {
	var body strings.Builder
	body.WriteString(`{"id":"2f0c5b1e-1111-4222-8333-444455556666","rvmId":"AAAABBBB-1111-4222-8333-444455556666","containers":[`)
	for i := range 82 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"ean":"59000000%05d","rejectionCauseCode":0,"count":1,"weight":25}`, i)
	}
	body.WriteString(`],"totalAmount":4100}`)
	in := []byte(body.String())
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, reason := claimedRvmID("aaaabbbb-1111-4222-8333-444455556666", in); reason != "" {
			b.Fatal(reason)
		}
	}
}
