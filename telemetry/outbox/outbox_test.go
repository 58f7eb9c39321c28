package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
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
	if err := Ack(ctx, db, 1, 2, 2); err != nil {
		t.Fatal(err)
	}
	recs, err := Pending(ctx, db, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != "[3 4 5]" || !recs[0].TS.Equal(ts) || string(recs[0].Body) != `{"n":1}` {
		t.Errorf("Pending = %v %+v; want [3 4 5] with the stored ts and body", seqs, recs[0])
	}
	if recs, _ := Pending(ctx, db, 3, 1); len(recs) != 1 || recs[0].Seq != 4 {
		t.Errorf("Pending(after 3, limit 1) = %+v", recs)
	}
	rows, bytes, err := Depth(ctx, db)
	if err != nil || rows != 3 || bytes != int64(len(`{"n":1}`)*3) {
		t.Errorf("Depth = %d rows %d bytes, %v", rows, bytes, err)
	}
	// Every record sent, confirmed and deleted: the seq still counts on.
	if err := Ack(ctx, db, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	if err := ConfirmSent(ctx, db); err != nil {
		t.Fatal(err)
	}
	if n, err := Sweep(ctx, db, 100); n != 5 || err != nil {
		t.Errorf("Sweep = %d, %v; want all 5", n, err)
	}
	if seq, _ := Append(ctx, db, Record{ID: "e6", Kind: "k", TS: ts, Body: json.RawMessage(`{}`)}); seq != 6 {
		t.Errorf("next seq after deleting every record = %d; want 6", seq)
	}
	if last, _ := LastSeq(ctx, db); last != 6 {
		t.Errorf("LastSeq = %d; want 6", last)
	}
}

// Acknowledging from the oldest record moves the sent mark: the records
// leave Pending and Depth at once; a run after a gap is not recorded (the
// records go out again). Sweep deletes only what is sent and confirmed, a
// chunk at a time. Depth is right at every step.
func TestAckMarkAndSweep(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	body := json.RawMessage(`{"n":1}`)
	appendN(t, db, 10, body)
	steps := []struct {
		name        string
		do          func() error
		wantPending string
		wantDepth   int64
		wantRows    string
	}{
		{"ack 1..3 (the mark)", func() error { return Ack(ctx, db, 3, 1, 2) }, "[4 5 6 7 8 9 10]", 7, "[1 2 3 4 5 6 7 8 9 10]"},
		{"ack 6..7 (after a gap: not recorded)", func() error { return Ack(ctx, db, 6, 7) }, "[4 5 6 7 8 9 10]", 7, "[1 2 3 4 5 6 7 8 9 10]"},
		{"ack 2 again", func() error { return Ack(ctx, db, 2) }, "[4 5 6 7 8 9 10]", 7, "[1 2 3 4 5 6 7 8 9 10]"},
		{"ack 4..7 (the mark moves on)", func() error { return Ack(ctx, db, 4, 5, 6, 7) }, "[8 9 10]", 3, "[1 2 3 4 5 6 7 8 9 10]"},
		{"sweep: sent, not confirmed", func() error { _, err := Sweep(ctx, db, 100); return err }, "[8 9 10]", 3, "[1 2 3 4 5 6 7 8 9 10]"},
		{"confirm what is sent", func() error { return ConfirmSent(ctx, db) }, "[8 9 10]", 3, "[1 2 3 4 5 6 7 8 9 10]"},
		{"sweep 2", func() error { _, err := Sweep(ctx, db, 2); return err }, "[8 9 10]", 3, "[3 4 5 6 7 8 9 10]"},
		{"sweep the rest", func() error { _, err := Sweep(ctx, db, 100); return err }, "[8 9 10]", 3, "[8 9 10]"},
		{"confirm 8..10 before they are sent", func() error { return Confirm(ctx, db, []Range{{From: 8, To: 10}}) }, "[8 9 10]", 3, "[8 9 10]"},
		{"sweep: confirmed, not sent", func() error { _, err := Sweep(ctx, db, 100); return err }, "[8 9 10]", 3, "[8 9 10]"},
		{"ack 8..10", func() error { return Ack(ctx, db, 8, 9, 10) }, "[]", 0, "[8 9 10]"},
		{"sweep", func() error { _, err := Sweep(ctx, db, 100); return err }, "[]", 0, "[]"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		rows, bytes, err := Depth(ctx, db)
		if got := seqs(t, mustRecords(Pending(ctx, db, 0, 100))); got != st.wantPending || err != nil || rows != st.wantDepth ||
			bytes != st.wantDepth*int64(len(body)) || tableSeqs(t, db) != st.wantRows {
			t.Errorf("after %s: Pending %s, Depth %d rows %d bytes (%v), table %s; want %s, %d, %d bytes, %s",
				st.name, got, rows, bytes, err, tableSeqs(t, db), st.wantPending, st.wantDepth, st.wantDepth*int64(len(body)), st.wantRows)
		}
		stored, sbytes, err := Stored(ctx, db)
		if n := int64(strings.Count(tableSeqs(t, db), " ") + 1); err != nil || (stored != 0 && stored != n) || sbytes != stored*int64(len(body)) {
			t.Errorf("after %s: Stored = %d rows %d bytes, %v; want the table's rows", st.name, stored, sbytes, err)
		}
	}
}

// Confirm takes ranges in any order, overlapping, repeated, beyond the
// last seq or empty; Unconfirmed lists exactly the sent records not
// confirmed; Sweep deletes exactly those both sent and confirmed; the
// counts agree with the table at every step.
func TestConfirm(t *testing.T) {
	tests := []struct {
		name     string
		sent     int64        // records 1..sent are acknowledged by the broker
		gone     []int64      // rows deleted before (a ledger from before confirmations)
		confirms [][]Range    // one Confirm call each
		want     Confirmation // after the confirms
		resend   string       // Unconfirmed(0, want.Top): what the publisher sends again
		left     string       // the table after a Sweep
		then     []Range      // a last Confirm after the Sweep
		final    func(Confirmation) bool
	}{
		{name: "in order", sent: 10, confirms: [][]Range{{{From: 1, To: 3}}, {{From: 4, To: 6}}},
			want: Confirmation{Upto: 6, Top: 6, Unconfirmed: 4}, resend: "[]", left: "[7 8 9 10]"},
		{name: "out of order", sent: 10, confirms: [][]Range{{{From: 7, To: 8}}, {{From: 1, To: 2}}},
			want: Confirmation{Upto: 2, Top: 8, Unconfirmed: 6}, resend: "[3 4 5 6]", left: "[3 4 5 6 9 10]"},
		{name: "overlapping", sent: 10, confirms: [][]Range{{{From: 2, To: 5}, {From: 4, To: 8}}, {{From: 1, To: 3}}},
			want: Confirmation{Upto: 8, Top: 8, Unconfirmed: 2}, resend: "[]", left: "[9 10]"},
		{name: "repeated and unsorted in one call", sent: 10, confirms: [][]Range{{{From: 5, To: 5}, {From: 3, To: 4}, {From: 3, To: 4}, {From: 9, To: 10}}},
			want: Confirmation{Upto: 0, Top: 10, Unconfirmed: 5}, resend: "[1 2 6 7 8]", left: "[1 2 6 7 8]"},
		{name: "the gaps between runs filled", sent: 10, confirms: [][]Range{{{From: 1, To: 2}, {From: 5, To: 6}, {From: 9, To: 9}}, {{From: 3, To: 4}, {From: 7, To: 8}}},
			want: Confirmation{Upto: 9, Top: 9, Unconfirmed: 1}, resend: "[]", left: "[10]"},
		{name: "one range over several runs", sent: 10, confirms: [][]Range{{{From: 2, To: 2}, {From: 4, To: 4}, {From: 6, To: 6}}, {{From: 1, To: 7}}},
			want: Confirmation{Upto: 7, Top: 7, Unconfirmed: 3}, resend: "[]", left: "[8 9 10]"},
		{name: "a run touching the mark's next run", sent: 10, confirms: [][]Range{{{From: 6, To: 7}}, {{From: 4, To: 5}}, {{From: 8, To: 8}}},
			want: Confirmation{Upto: 0, Top: 8, Unconfirmed: 5}, resend: "[1 2 3]", left: "[1 2 3 9 10]",
			then: []Range{{From: 1, To: 3}}, final: func(c Confirmation) bool { return c.Upto == 8 && c.Unconfirmed == 2 }},
		{name: "confirmed again", sent: 10, confirms: [][]Range{{{From: 1, To: 4}}, {{From: 1, To: 4}}, {{From: 2, To: 3}}},
			want: Confirmation{Upto: 4, Top: 4, Unconfirmed: 6}, resend: "[]", left: "[5 6 7 8 9 10]"},
		{name: "beyond the last seq", sent: 10, confirms: [][]Range{{{From: 8, To: 20}}},
			want: Confirmation{Upto: 0, Top: 10, Unconfirmed: 7}, resend: "[1 2 3 4 5 6 7]", left: "[1 2 3 4 5 6 7]"},
		{name: "empty and reversed ranges", sent: 10, confirms: [][]Range{{{From: 5, To: 4}}, {{From: 0, To: 0}}, {{From: -3, To: -1}}},
			want: Confirmation{Upto: 0, Top: 0, Unconfirmed: 10}, resend: "[]", left: "[1 2 3 4 5 6 7 8 9 10]"},
		{name: "confirmed before sent", sent: 5, confirms: [][]Range{{{From: 1, To: 10}}},
			want: Confirmation{Upto: 10, Top: 10, Unconfirmed: 0}, resend: "[]", left: "[6 7 8 9 10]"},
		{name: "missed records not yet sent are not resent", sent: 3, confirms: [][]Range{{{From: 1, To: 1}, {From: 6, To: 6}}},
			want: Confirmation{Upto: 1, Top: 6, Unconfirmed: 8}, resend: "[2 3]", left: "[2 3 4 5 6 7 8 9 10]"},
		{name: "the mark passes records already gone", sent: 10, gone: []int64{4, 5}, confirms: [][]Range{{{From: 6, To: 6}}, {{From: 1, To: 3}}},
			want: Confirmation{Upto: 6, Top: 6, Unconfirmed: 4}, resend: "[]", left: "[7 8 9 10]"},
		{name: "swept runs join the mark later", sent: 10, confirms: [][]Range{{{From: 2, To: 3}, {From: 6, To: 7}}},
			want: Confirmation{Upto: 0, Top: 7, Unconfirmed: 6}, resend: "[1 4 5]", left: "[1 4 5 8 9 10]",
			then: []Range{{From: 1, To: 1}, {From: 4, To: 5}}, final: func(c Confirmation) bool { return c.Upto == 7 && c.Top == 7 && c.Unconfirmed == 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := testDB(t)
			appendN(t, db, 10, json.RawMessage(`{"n":1}`))
			for _, seq := range tt.gone {
				if _, err := db.Exec(`DELETE FROM outbox WHERE seq = ?`, seq); err != nil {
					t.Fatal(err)
				}
			}
			for seq := int64(1); seq <= tt.sent; seq++ {
				if err := Ack(ctx, db, seq); err != nil {
					t.Fatal(err)
				}
			}
			for _, rs := range tt.confirms {
				if err := Confirm(ctx, db, rs); err != nil {
					t.Fatalf("Confirm(%v) = %v", rs, err)
				}
			}
			if got, err := Confirmations(ctx, db); err != nil || got != tt.want {
				t.Errorf("Confirmations() = %+v, %v; want %+v", got, err, tt.want)
			}
			if got := seqs(t, mustRecords(Unconfirmed(ctx, db, 0, tt.want.Top, 100))); got != tt.resend {
				t.Errorf("Unconfirmed(below %d) = %s; want %s", tt.want.Top, got, tt.resend)
			}
			if _, err := Sweep(ctx, db, 100); err != nil {
				t.Fatal(err)
			}
			if got := tableSeqs(t, db); got != tt.left {
				t.Errorf("after Sweep the table holds %s; want %s", got, tt.left)
			}
			// The counts survive the sweep.
			if got, err := Confirmations(ctx, db); err != nil || got != tt.want {
				t.Errorf("Confirmations() after Sweep = %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.then != nil {
				if err := Confirm(ctx, db, tt.then); err != nil {
					t.Fatal(err)
				}
				if got, err := Confirmations(ctx, db); err != nil || !tt.final(got) {
					t.Errorf("Confirmations() after Confirm(%v) = %+v, %v", tt.then, got, err)
				}
			}
		})
	}
}

// TestConfirmAgainstModel plays random acknowledgements, confirmations and
// sweeps (a fixed seed) against a plain model of the two states: the
// outbox never deletes a record that is not both sent and confirmed, lists
// exactly the sent unconfirmed ones, keeps its counts right, and deletes
// everything once everything is confirmed.
func TestConfirmAgainstModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		db := testDB(t)
		const n = 60
		appendN(t, db, n, json.RawMessage(`{"n":1}`))
		var sent int64
		confirmed := map[int64]bool{}
		present := map[int64]bool{}
		for s := int64(1); s <= n; s++ {
			present[s] = true
		}
		check := func(step string) {
			t.Helper()
			var unconf, top int64
			var resend []int64
			for s := int64(1); s <= n; s++ {
				if confirmed[s] {
					top = s
				}
			}
			for s := int64(1); s <= n; s++ {
				if present[s] && !confirmed[s] {
					unconf++
					if s <= sent && s < top {
						resend = append(resend, s)
					}
				}
			}
			c, err := Confirmations(ctx, db)
			if err != nil || c.Unconfirmed != unconf || c.Top != top {
				t.Fatalf("round %d, %s: Confirmations() = %+v, %v; want %d unconfirmed, top %d", round, step, c, err, unconf, top)
			}
			if got, want := seqs(t, mustRecords(Unconfirmed(ctx, db, 0, top, 1000))), fmt.Sprint(resend); got != want && !(got == "[]" && len(resend) == 0) {
				t.Fatalf("round %d, %s: Unconfirmed = %s; want %s", round, step, got, want)
			}
			var table []int64
			for s := int64(1); s <= n; s++ {
				if present[s] {
					table = append(table, s)
				}
			}
			if got := tableSeqs(t, db); got != fmt.Sprint(table) {
				t.Fatalf("round %d, %s: table %s; want %v", round, step, got, table)
			}
		}
		for step := range 40 {
			switch rng.IntN(3) {
			case 0: // the broker acknowledges the next few
				k := sent + 1 + rng.Int64N(8)
				var run []int64
				for s := sent + 1; s <= min(k, n); s++ {
					run = append(run, s)
				}
				if err := Ack(ctx, db, run...); err != nil {
					t.Fatal(err)
				}
				sent = min(k, n)
			case 1: // the gateway confirms a few random ranges
				var rs []Range
				for range 1 + rng.IntN(3) {
					a := 1 + rng.Int64N(n)
					rs = append(rs, Range{From: a, To: a + rng.Int64N(6)})
				}
				if err := Confirm(ctx, db, rs); err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					for s := r.From; s <= min(r.To, n); s++ {
						confirmed[s] = true
					}
				}
			case 2:
				if _, err := Sweep(ctx, db, 1+rng.IntN(10)); err != nil {
					t.Fatal(err)
				}
				// What the model says is deletable: a sweep may take any
				// part of it, oldest first; follow the table.
				for s := int64(1); s <= n; s++ {
					if present[s] && !tableHas(t, db, s) {
						if s > sent || !confirmed[s] {
							t.Fatalf("round %d: Sweep deleted %d (sent up to %d, confirmed %v)", round, s, sent, confirmed[s])
						}
						present[s] = false
					}
				}
			}
			check(fmt.Sprintf("step %d", step))
		}
		// Everything sent and confirmed: the outbox empties.
		all := make([]int64, 0, n)
		for s := sent + 1; s <= n; s++ {
			all = append(all, s)
		}
		if err := Ack(ctx, db, all...); err != nil {
			t.Fatal(err)
		}
		if err := Confirm(ctx, db, []Range{{From: 1, To: n}}); err != nil {
			t.Fatal(err)
		}
		if _, err := Sweep(ctx, db, 1000); err != nil {
			t.Fatal(err)
		}
		if c, err := Confirmations(ctx, db); err != nil || c != (Confirmation{Upto: n, Top: n}) || tableSeqs(t, db) != "[]" {
			t.Fatalf("round %d: all confirmed and swept: %+v, %v, table %s; want upto and top %d, empty", round, c, err, tableSeqs(t, db), n)
		}
	}
}

func testDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "o.db")+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if err := Init(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func appendN(t *testing.T, db *sql.DB, n int, body json.RawMessage) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := Append(context.Background(), db, Record{ID: fmt.Sprint("e", i), Kind: "k", TS: time.Now(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRecords(recs []Record, err error) []Record {
	if err != nil {
		panic(err)
	}
	return recs
}

func seqs(t *testing.T, recs []Record) string {
	t.Helper()
	out := []int64{}
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return fmt.Sprint(out)
}

// tableSeqs lists the seqs the outbox table holds.
func tableSeqs(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT seq FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

func tableHas(t *testing.T, db *sql.DB, seq int64) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM outbox WHERE seq = ?`, seq).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}
