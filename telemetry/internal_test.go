package telemetry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

func testDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "l.db")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEncodeEnvelopeMatchesJSONMarshal(t *testing.T) {
	ts := time.Date(2026, 1, 5, 8, 0, 0, 123000000, time.FixedZone("CET", 3600))
	tests := []outbox.Record{
		{Seq: 1, ID: "0b1c", Kind: "transaction", TS: ts, RvmID: "r-1", Body: json.RawMessage(`{"a":1}`)},
		{Seq: 99, ID: `q"uo\te<&>`, Kind: "bag-fill-status", TS: ts.Truncate(time.Second), RvmID: "", Body: json.RawMessage("{ \"a\" : [1, 2],\n \"b\": \"ł\" }")},
		{Seq: 1 << 40, ID: "zażółć\u2028", Kind: "heartbeat", TS: ts, RvmID: "r", Body: json.RawMessage(`{}`)},
	}
	for _, r := range tests {
		want, err := json.Marshal(envelope.Envelope{
			V: envelope.Version, ID: r.ID, Machine: "A1", RvmID: r.RvmID, Seq: r.Seq,
			TS: r.TS.UTC().Format(time.RFC3339Nano), Kind: r.Kind, Body: r.Body,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := EncodeEnvelope(nil, "A1", r); string(got) != string(want) {
			t.Errorf("EncodeEnvelope(%q) = %s; want %s", r.ID, got, want)
		}
	}
}

func TestEncodeEnvelopeBadBody(t *testing.T) {
	r := outbox.Record{Seq: 1, ID: "x", Kind: "fault", TS: time.Unix(0, 0), Body: json.RawMessage(`{"broken`)}
	got := EncodeEnvelope(nil, "A1", r)
	var e envelope.Envelope
	if err := json.Unmarshal(got, &e); err != nil {
		t.Fatalf("EncodeEnvelope(bad body) = %s; not JSON: %v", got, err)
	}
	if err := e.Validate(); !errors.Is(err, envelope.ErrInvalid) {
		t.Errorf("Validate(envelope with bad body) = %v; want ErrInvalid", err)
	}
}

func TestNewPublisherOptions(t *testing.T) {
	db := testDB(t)
	ok := Options{Broker: "tcp://127.0.0.1:1", Serial: "A1"}
	tests := []struct {
		name string
		db   *sql.DB
		edit func(*Options)
		err  error
	}{
		{"valid", db, func(*Options) {}, nil},
		{"no db", nil, func(*Options) {}, ErrConfig},
		{"no broker", db, func(o *Options) { o.Broker = "" }, ErrConfig},
		{"no serial", db, func(o *Options) { o.Serial = "" }, ErrConfig},
		{"wildcard serial", db, func(o *Options) { o.Serial = "A+1" }, ErrConfig},
		{"slash serial", db, func(o *Options) { o.Serial = "A/1" }, ErrConfig},
		{"negative window", db, func(o *Options) { o.Window = -1 }, ErrConfig},
		{"max below min", db, func(o *Options) { o.Backoff.Min, o.Backoff.Max = time.Second, time.Millisecond }, ErrConfig},
	}
	for _, tt := range tests {
		o := ok
		tt.edit(&o)
		_, err := NewPublisher(tt.db, o)
		if !errors.Is(err, tt.err) {
			t.Errorf("NewPublisher(%s) = %v; want %v", tt.name, err, tt.err)
		}
	}
}

func TestOverBudget(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	if err := outbox.Init(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.Append(ctx, db, outbox.Record{ID: "a", Kind: "k", TS: time.Unix(0, 0), Body: json.RawMessage(`{"x":"0123456789"}`)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		budget int64
		want   bool
	}{{1 << 20, false}, {19, false}, {18, true}, {1, true}}
	for _, tt := range tests {
		got, err := OverBudget(ctx, db, tt.budget)
		if err != nil || got != tt.want {
			t.Errorf("OverBudget(%d) = %v, %v; want %v", tt.budget, got, err, tt.want)
		}
	}
}

// doneToken is a paho token that completed with err.
type doneToken struct{ err error }

func (d doneToken) Wait() bool                     { return true }
func (d doneToken) WaitTimeout(time.Duration) bool { return true }
func (d doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (d doneToken) Error() error                   { return d.err }

// A completion counts only from the current connection and without error:
// paho completes tokens of an old connection with nil after a reconnect.
func TestCompletedTrustsOnlyTheCurrentEpoch(t *testing.T) {
	p, err := NewPublisher(testDB(t), Options{Broker: "tcp://127.0.0.1:1", Serial: "A1"})
	if err != nil {
		t.Fatal(err)
	}
	p.epoch = 3
	tests := []struct {
		m  inflight
		ok bool
	}{
		{inflight{seq: 7, epoch: 3, tok: doneToken{}}, true},
		{inflight{seq: 7, epoch: 2, tok: doneToken{}}, false},
		{inflight{seq: 7, epoch: 3, tok: doneToken{errors.New("connection lost")}}, false},
	}
	for _, tt := range tests {
		window := make(chan struct{}, 1)
		window <- struct{}{}
		ok := p.completed(tt.m, window)
		if ok != tt.ok || len(window) != 0 {
			t.Errorf("completed(seq %d epoch %d err %v) = %v, window %d; want %v, 0 (slot freed)",
				tt.m.seq, tt.m.epoch, tt.m.tok.Error(), ok, len(window), tt.ok)
		}
	}
}
