package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

func TestPINStore(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if _, ok, err := l.PIN(ctx); ok || err != nil {
		t.Fatalf("PIN() on a new ledger = ok %v, %v; want none", ok, err)
	}
	for _, h := range []string{"hash-1", "hash-2"} {
		if err := l.SetPIN(ctx, h, t0); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := l.PIN(ctx); got != h || !ok || err != nil {
			t.Errorf("PIN() after SetPIN(%q) = %q, %v, %v; want %q", h, got, ok, err, h)
		}
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	for i, a := range []string{"login", "service", "lockout"} {
		if err := l.Audit(ctx, AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Session: "console-1", Action: a, OK: i != 0, Detail: "d"}, "r"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		n    int
		want string
	}{{0, "login,service,lockout"}, {2, "service,lockout"}, {10, "login,service,lockout"}}
	for _, tt := range tests {
		es, err := l.AuditLog(ctx, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Action)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("AuditLog(%d) = %v; want %s", tt.n, got, tt.want)
		}
	}
	recs, err := outbox.Pending(ctx, l.DB(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Kind != "audit" || !strings.Contains(string(recs[2].Body), `"action":"lockout"`) {
		t.Errorf("outbox after 3 audits = %d records (%v); want 3 audit events", len(recs), recs)
	}
}

func TestRecordCalibration(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if err := l.SetCalibration(ctx, "bag", Cal{Offset: -3000, CountsPerKg: 21000, ResolutionMg: 1000, At: t0, By: "factory"}, "sheet"); err != nil {
		t.Fatal(err)
	}
	ch := CalChange{Cell: "bag", At: t0.Add(time.Hour), By: "console-4", Refs: "tare -4357 counts; 2000.000 g at 39325 counts", LinearityPPM: 12,
		Old: Cal{Offset: -3000, CountsPerKg: 21000, ResolutionMg: 1000},
		New: Cal{Offset: -4357, CountsPerKg: 21840, ResolutionMg: 1000}}
	if err := l.RecordCalibration(ctx, ch, "r"); err != nil {
		t.Fatal(err)
	}
	cur, ok, err := l.Calibration(ctx, "bag")
	if err != nil || !ok || cur.Offset != -4357 || cur.CountsPerKg != 21840 || cur.By != "console-4" {
		t.Errorf("Calibration(bag) after RecordCalibration = %+v, %v, %v; want the new factors by console-4", cur, ok, err)
	}
	hs, err := l.CalibrationHistory(ctx, "")
	if err != nil || len(hs) != 1 {
		t.Fatalf("CalibrationHistory = %v, %v; want one change", hs, err)
	}
	h := hs[0]
	if h.Old.CountsPerKg != 21000 || h.New.CountsPerKg != 21840 || h.Refs != ch.Refs || h.By != "console-4" || !h.At.Equal(ch.At) || h.LinearityPPM != 12 {
		t.Errorf("CalibrationHistory()[0] = %+v; want %+v", h, ch)
	}
	if hs, _ := l.CalibrationHistory(ctx, "chamber"); len(hs) != 0 {
		t.Errorf("CalibrationHistory(chamber) = %v; want none", hs)
	}
	es, _ := l.AuditLog(ctx, 0)
	if len(es) != 1 || es[0].Action != "calib accept" || !strings.Contains(es[0].Detail, "21000 -> 21840") {
		t.Errorf("audit log after a calibration = %+v; want its calib accept with old and new factors", es)
	}
}

func TestVoucherAndLastBags(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if _, ok, err := l.Voucher(ctx, "nope"); ok || err != nil {
		t.Errorf("Voucher(nope) = %v, %v; want not found", ok, err)
	}
	if _, err := l.EnsureBag(ctx, 1, 40_000, t0); err != nil {
		t.Fatal(err)
	}
	if open, _, ok, err := l.LastBags(ctx); ok || err != nil || open != 40_000 {
		t.Errorf("LastBags with one bag = %d, ok %v, %v; want 40000, no previous", open, ok, err)
	}
	b, _ := l.EnsureBag(ctx, 1, 0, t0)
	_, _, v := sessionV(t, l, b.ID)
	got, ok, err := l.Voucher(ctx, v.ID)
	if err != nil || !ok || got.ID != v.ID || got.Amount != v.Amount {
		t.Errorf("Voucher(%s) = %+v, %v, %v; want %+v", v.ID, got, ok, err, v)
	}
	if _, _, err := l.ExchangeBag(ctx, Exchange{Seal: "SEAL-1", Staff: "s", Bin: 1, At: t0.Add(time.Hour), RvmID: "r", NewTareMg: 65_000}); err != nil {
		t.Fatal(err)
	}
	if open, prev, ok, err := l.LastBags(ctx); !ok || err != nil || open != 65_000 || prev != 40_000 {
		t.Errorf("LastBags after an exchange = %d, %d, %v, %v; want 65000, 40000", open, prev, ok, err)
	}
}

func sessionV(t *testing.T, l *Ledger, bag string) (string, string, *Voucher) {
	t.Helper()
	tx, v := session(t, l, bag, "voucher")
	if v == nil {
		t.Fatal("no voucher")
	}
	return tx.ID, bag, v
}

func TestWarnings(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if ws, err := l.Warnings(ctx); len(ws) != 0 || err != nil {
		t.Fatalf("Warnings() on a new ledger = %v, %v; want none", ws, err)
	}
	for _, text := range []string{"drifted 30 g", "drifted 40 g"} {
		if err := l.RaiseWarning(ctx, "bag-scale-drift", text, t0, "r", map[string]string{"text": text}); err != nil {
			t.Fatal(err)
		}
	}
	if ws, _ := l.Warnings(ctx); len(ws) != 1 || ws[0] != "drifted 40 g" {
		t.Errorf("Warnings() after two raises under one key = %v; want the last", ws)
	}
	recs, err := outbox.Pending(ctx, l.DB(), 0, 10)
	if err != nil || len(recs) != 2 || recs[1].Kind != "service-warning" {
		t.Errorf("outbox = %v, %v; want two service-warning events", recs, err)
	}
	if err := l.ClearWarning(ctx, "bag-scale-drift"); err != nil {
		t.Fatal(err)
	}
	if ws, _ := l.Warnings(ctx); len(ws) != 0 {
		t.Errorf("Warnings() after ClearWarning = %v; want none", ws)
	}
}
