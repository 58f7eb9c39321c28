package telemetry

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// EncodeEnvelope appends r's envelope for machine serial to buf: the bytes
// the publisher sends. It writes what
// json.Marshal(envelope.Envelope{...}) would, without reflection and
// without copying the body twice: the drain runs on a Raspberry Pi.
func EncodeEnvelope(buf []byte, serial string, r outbox.Record) []byte {
	buf = append(buf, `{"v":`...)
	buf = strconv.AppendInt(buf, envelope.Version, 10)
	buf = append(buf, `,"id":`...)
	buf = appendString(buf, r.ID)
	buf = append(buf, `,"machine":`...)
	buf = appendString(buf, serial)
	buf = append(buf, `,"rvmId":`...)
	buf = appendString(buf, r.RvmID)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendInt(buf, r.Seq, 10)
	buf = append(buf, `,"ts":"`...)
	buf = r.TS.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","kind":`...)
	buf = appendString(buf, r.Kind)
	buf = append(buf, `,"body":`...)
	// outbox.Append refuses a body that is not JSON, and the ledger writes
	// its bodies with json.Marshal: an object without blanks is sent as it
	// is, without a second scan on the drain's hot path.
	var body bytes.Buffer
	switch {
	case len(r.Body) > 1 && r.Body[0] == '{' && r.Body[len(r.Body)-1] == '}' && !bytes.ContainsAny(r.Body, " \t\r\n"):
		buf = append(buf, r.Body...)
	case json.Compact(&body, r.Body) == nil && body.Len() > 0:
		buf = append(buf, body.Bytes()...)
	default:
		// A body that is not JSON is the ledger's bug; sending it as a
		// string keeps the envelope valid JSON and the queue moving, and
		// the consumer's Validate refuses it visibly.
		buf = appendString(buf, string(r.Body))
	}
	return append(buf, '}')
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(buf []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}
