package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzEnvelope: an event payload from the broker never makes decoding
// panic; an envelope that validates survives a trip through JSON unchanged
// and still validates, and its kind names a topic that parses back.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"8c7654ec-fd7b-4b62-bb80-3e2f4e02ad1c","machine":"RVM-1","rvmId":"7f0c6f1e-3a5b-4c1d-9e2f-0a1b2c3d4e5f","seq":1,"ts":"2026-01-05T08:00:11Z","kind":"transaction","body":{"id":"x","totalAmount":2}}`))
	f.Add([]byte(`{"v":1,"id":"a","machine":"M","seq":-1,"kind":"k","body":{}}`))
	f.Add([]byte(`{"v":1,"id":"a","machine":"M","seq":1,"kind":"k","body":[]}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Envelope
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate(%s) = %v; want ErrInvalid", data, err)
			}
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("Marshal of a valid envelope (%s) = %v", data, err)
		}
		var again Envelope
		if err := json.Unmarshal(out, &again); err != nil || again.Validate() != nil {
			t.Fatalf("Unmarshal(%s) = %v; validate %v", out, err, again.Validate())
		}
		var body bytes.Buffer
		json.Compact(&body, e.Body)
		if again.V != e.V || again.ID != e.ID || again.Machine != e.Machine || again.RvmID != e.RvmID || again.Seq != e.Seq ||
			again.TS != e.TS || again.Kind != e.Kind || !bytes.Equal(again.Body, body.Bytes()) {
			t.Fatalf("round trip %+v; want %+v", again, e)
		}
	})
}

// FuzzTopic: any topic parses without panic; a parsed event topic is
// rebuilt exactly from its serial and kind.
func FuzzTopic(f *testing.F) {
	for _, s := range []string{"rvm/A1/evt/transaction", "rvm/A1/status", "rvm//evt/x", "rvm/A1/evt/a/b", "rvm/A1/cmd/catalog", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if serial, kind, ok := ParseEventTopic(topic); ok {
			if got := EventTopic(serial, kind); got != topic {
				t.Fatalf("EventTopic(ParseEventTopic(%q)) = %q", topic, got)
			}
			if s, ok := ParseTopicSerial(topic); !ok || s != serial {
				t.Fatalf("ParseTopicSerial(%q) = %q, %v; want %q", topic, s, ok, serial)
			}
		}
	})
}

// FuzzCommand: a command from the broker and its bodies (catalogue update,
// voucher top-up) never make decoding panic; what decodes encodes and
// decodes to the same value.
func FuzzCommand(f *testing.F) {
	f.Add([]byte(`{"id":"c1","ts":"2026-01-05T08:00:00Z","body":{"version":2,"full":true,"products":[{"ean":"5900449000287","deposit":{"amount":0.5}}],"removed":["5901234123457"]}}`))
	f.Add([]byte(`{"id":"c2","body":{"vouchers":[{"id":"2932061197499","printType":0,"validUntil":"2026-02-05T08:00:00Z"}]}}`))
	f.Add([]byte(`{"id":"c3"}`))
	f.Add([]byte(`{"id":"c4","body":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Command
		if err := json.Unmarshal(data, &c); err != nil {
			return
		}
		if len(c.Body) == 0 {
			return
		}
		var u CatalogUpdate
		if json.Unmarshal(c.Body, &u) == nil {
			roundTrip(t, u, &CatalogUpdate{})
		}
		var v VoucherTopUp
		if json.Unmarshal(c.Body, &v) == nil {
			roundTrip(t, v, &VoucherTopUp{})
		}
	})
}

// roundTrip checks that v encodes, and that the encoding decodes into into
// and encodes again to the same bytes.
func roundTrip[T any](t *testing.T, v T, into *T) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%+v) = %v", v, err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", b, err)
	}
	b2, err := json.Marshal(*into)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("Marshal(Unmarshal(%s)) = %s, %v", b, b2, err)
	}
}
