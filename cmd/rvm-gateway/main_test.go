package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
)

func TestFailuresCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gw.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"ev-1", "ev-2"} {
		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{{ID: id, Machine: "RVM-A", Seq: 1, Kind: "transaction", Body: []byte(`{}`), Forward: true, ReceivedAt: now}}}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkFailed(ctx, store.Failure{EventID: id, Machine: "RVM-A", Kind: "transaction", Reason: "refused", HTTPStatus: 422, Code: "TRS_PRODUCT_BAD_STATUS", LastTry: now}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	tests := []struct {
		args    []string
		wantErr bool
		want    string
	}{
		{[]string{"failures", "list", "-db", db}, false, "TRS_PRODUCT_BAD_STATUS"},
		{[]string{"failures", "retry", "ev-1", "-db", db}, false, "ev-1 requeued"},
		{[]string{"failures", "dismiss", "ev-2", "-db", db}, false, "ev-2 dismissed"},
		{[]string{"failures", "list", "-db", db}, false, "EVENT"},
		{[]string{"failures", "list", "-all", "-json", "-db", db}, false, `"status": "dismissed"`},
		{[]string{"failures", "retry", "ev-1", "-db", db}, true, ""},
		{[]string{"failures", "retry", "-db", db}, true, ""},
		{[]string{"failures", "frobnicate", "-db", db}, true, ""},
		{[]string{"failures", "purge", "-db", db}, false, "0 entries purged"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(tt.args, &out, &errOut)
		if (err != nil) != tt.wantErr || !strings.Contains(out.String(), tt.want) {
			t.Errorf("run(%q) = %v, %q; want error %v and output containing %q", tt.args, err, out.String(), tt.wantErr, tt.want)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"failures", "list", "-db", db}, &out, &out); err != nil || strings.Contains(out.String(), "ev-") {
		t.Errorf("open failures after retry and dismiss = %q, %v; want none", out.String(), err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-drs", ""}} {
		var out bytes.Buffer
		if err := run(append(args, "-db", filepath.Join(t.TempDir(), "x.db")), &out, &out); err == nil {
			t.Errorf("run(%q) = nil; want an error", args)
		}
	}
}
