package envelope

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseEventTopic(t *testing.T) {
	tests := []struct {
		topic, serial, kind string
		ok                  bool
	}{
		{"rvm/RVM-1/evt/transaction", "RVM-1", "transaction", true},
		{"rvm/RVM-1/evt/bag-fill-status", "RVM-1", "bag-fill-status", true},
		{"rvm/RVM-1/status", "", "", false},
		{"rvm//evt/transaction", "", "", false},
		{"rvm/RVM-1/evt/", "", "", false},
		{"rvm/RVM-1/evt/a/b", "", "", false},
		{"other/RVM-1/evt/x", "", "", false},
	}
	for _, tt := range tests {
		s, k, ok := ParseEventTopic(tt.topic)
		if s != tt.serial || k != tt.kind || ok != tt.ok {
			t.Errorf("ParseEventTopic(%q) = %q, %q, %v; want %q, %q, %v", tt.topic, s, k, ok, tt.serial, tt.kind, tt.ok)
		}
	}
	if got := EventTopic("A", "voucher"); got != "rvm/A/evt/voucher" {
		t.Errorf("EventTopic = %q", got)
	}
}

func TestValidate(t *testing.T) {
	good := Envelope{V: 1, ID: "x", Machine: "M", Seq: 1, Kind: "k", Body: json.RawMessage(`{}`)}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	bad := []func(*Envelope){
		func(e *Envelope) { e.V = 2 },
		func(e *Envelope) { e.ID = "" },
		func(e *Envelope) { e.Machine = "" },
		func(e *Envelope) { e.Seq = 0 },
		func(e *Envelope) { e.Kind = "" },
		func(e *Envelope) { e.Body = json.RawMessage(`[1]`) },
		func(e *Envelope) { e.Body = nil },
	}
	for i, f := range bad {
		e := good
		f(&e)
		if err := e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: Validate(%+v) = %v; want ErrInvalid", i, e, err)
		}
	}
}
