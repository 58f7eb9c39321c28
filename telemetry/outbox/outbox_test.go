package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "o.db")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := Init(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Init(ctx, db); err != nil {
		t.Fatalf("Init twice: %v", err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for i := 1; i <= 5; i++ {
		seq, err := Append(ctx, db, Record{ID: fmt.Sprint("e", i), Kind: "k", TS: ts, RvmID: "r", Body: json.RawMessage(`{"n":1}`)})
		if err != nil || seq != int64(i) {
			t.Fatalf("Append %d = %d, %v", i, seq, err)
		}
	}
	if _, err := Append(ctx, db, Record{ID: "e1", Kind: "k", TS: ts, Body: json.RawMessage(`{}`)}); err == nil {
		t.Error("a repeated id was appended")
	}
	// The publisher sends compact bodies as they are: only JSON enters.
	if _, err := Append(ctx, db, Record{ID: "bad", Kind: "k", TS: ts, Body: json.RawMessage(`{"broken`)}); err == nil {
		t.Error(`Append(body {"broken) = nil; want an error`)
	}
	if err := Ack(ctx, db, 1, 2, 2, 5); err != nil {
		t.Fatal(err)
	}
	// Acking the newest record must not let its seq be reused.
	if seq, _ := Append(ctx, db, Record{ID: "e6", Kind: "k", TS: ts, Body: json.RawMessage(`{}`)}); seq != 6 {
		t.Errorf("next seq after acking the last = %d; want 6", seq)
	}
	recs, err := Pending(ctx, db, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != "[3 4 6]" || !recs[0].TS.Equal(ts) || string(recs[0].Body) != `{"n":1}` {
		t.Errorf("Pending = %v %+v; want [3 4 6] with the stored ts and body", seqs, recs[0])
	}
	if recs, _ := Pending(ctx, db, 3, 1); len(recs) != 1 || recs[0].Seq != 4 {
		t.Errorf("Pending(after 3, limit 1) = %+v", recs)
	}
	rows, bytes, err := Depth(ctx, db)
	if err != nil || rows != 3 || bytes != int64(len(`{"n":1}`)*2+len(`{}`)) {
		t.Errorf("Depth = %d rows %d bytes, %v", rows, bytes, err)
	}
	if last, _ := LastSeq(ctx, db); last != 6 {
		t.Errorf("LastSeq = %d; want 6", last)
	}
}

// Acknowledging from the oldest record moves the mark: the records leave
// Pending and Depth at once and the rows go with Sweep, a chunk at a time;
// a run after a gap is deleted at once. Depth is right at every step.
func TestAckMarkAndSweep(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "o.db")+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := Init(ctx, db); err != nil {
		t.Fatal(err)
	}
	body := json.RawMessage(`{"n":1}`)
	for i := 1; i <= 10; i++ {
		if _, err := Append(ctx, db, Record{ID: fmt.Sprint("e", i), Kind: "k", TS: time.Now(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	rowsIn := func() int {
		var n int
		db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n)
		return n
	}
	pending := func() string {
		recs, err := Pending(ctx, db, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
		return fmt.Sprint(seqs)
	}
	steps := []struct {
		name        string
		do          func() error
		wantPending string
		wantDepth   int64
		wantRows    int
	}{
		{"ack 1..3 (the mark)", func() error { return Ack(ctx, db, 3, 1, 2) }, "[4 5 6 7 8 9 10]", 7, 10},
		{"ack 6..7 (after a gap: deleted)", func() error { return Ack(ctx, db, 6, 7) }, "[4 5 8 9 10]", 5, 8},
		{"ack 2 again", func() error { return Ack(ctx, db, 2) }, "[4 5 8 9 10]", 5, 8},
		{"ack 4..5 (the mark passes the gap)", func() error { return Ack(ctx, db, 4, 5) }, "[8 9 10]", 3, 8},
		{"sweep 2", func() error { _, err := Sweep(ctx, db, 2); return err }, "[8 9 10]", 3, 6},
		{"sweep the rest", func() error { _, err := Sweep(ctx, db, 100); return err }, "[8 9 10]", 3, 3},
		{"ack 8..10", func() error { return Ack(ctx, db, 8, 9, 10) }, "[]", 0, 3},
		{"sweep", func() error { _, err := Sweep(ctx, db, 100); return err }, "[]", 0, 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		rows, bytes, err := Depth(ctx, db)
		if got := pending(); got != st.wantPending || err != nil || rows != st.wantDepth || bytes != st.wantDepth*int64(len(body)) || rowsIn() != st.wantRows {
			t.Errorf("after %s: Pending %s, Depth %d rows %d bytes (%v), %d rows in the table; want %s, %d, %d bytes, %d rows",
				st.name, got, rows, bytes, err, rowsIn(), st.wantPending, st.wantDepth, st.wantDepth*int64(len(body)), st.wantRows)
		}
	}
}
