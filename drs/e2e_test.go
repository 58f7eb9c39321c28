package drs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
	"github.com/deposit-rvm/rvm/internal/clock"
)

// TestAgainstFlakySimulator runs a machine's day against the operator
// stand-in answering a third of all calls 503: every call gets through on
// retries, and the operator holds each record once.
func TestAgainstFlakySimulator(t *testing.T) {
	data, err := os.ReadFile("drssim/testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := drssim.ParseCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewStepper(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	sim, err := drssim.New(drssim.Options{Catalog: catalog, Token: "tok", Clock: clk, ErrorRate: 0.33, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c := drs.New(srv.URL, "tok", &drs.Options{MaxAttempts: 20, Clock: clk})
	ctx := context.Background()

	rvmID, err := c.RegisterMachine(ctx, drsapi.MachineUpdate{SerialNumber: "SN-1", DrsCpNo: "1100061-152",
		Bins: []drsapi.BinPost{{WasteType: []int{drsapi.WastePET, drsapi.WasteAluminium}, Litrage: 240}}})
	if err != nil {
		t.Fatalf("RegisterMachine: %v", err)
	}
	products, err := c.AllProducts(ctx, time.Time{})
	if err != nil || len(products) != len(catalog) {
		t.Fatalf("AllProducts = %d, %v; want %d", len(products), err, len(catalog))
	}
	codes, err := c.VoucherBuffer(ctx, rvmID, 5)
	if err != nil || len(codes) != 5 {
		t.Fatalf("VoucherBuffer = %v, %v; want 5 codes", codes, err)
	}
	var txIDs []string
	for i, code := range codes[:3] {
		tx := drsapi.Transaction{
			ID: "497f6eca-6276-4993-bfeb-53cbbbba6f0" + string(rune('0'+i)), RvmID: rvmID,
			TotalAmount: 2, TotalAccepted: 2, TotalWeight: 36,
			TransactionStartTime: "2026-01-05T08:00:00Z", TransactionEndTime: "2026-01-05T08:00:40Z",
			Containers: []drsapi.Container{{EAN: "5900449000287", Count: 1, Weight: 21}, {EAN: "5901012001120", Count: 1, Weight: 15}},
			Voucher:    &drsapi.VoucherBase{ID: code.ID},
		}
		v, err := c.PostTransaction(ctx, tx)
		if err != nil && !errors.Is(err, drs.ErrAlreadyDelivered) {
			t.Fatalf("PostTransaction %d: %v", i, err)
		}
		if err == nil && v.ID != code.ID {
			t.Errorf("PostTransaction %d voucher = %s; want %s", i, v.ID, code.ID)
		}
		txIDs = append(txIDs, tx.ID)
	}
	if err := c.PostBagFillStatus(ctx, drsapi.BagFillStatus{RvmID: rvmID, WasteType: []int{drsapi.WastePET}, FillLevelPercent: 0.8, ReportedAt: "2026-01-05T12:00:00Z"}); err != nil {
		t.Errorf("PostBagFillStatus: %v", err)
	}
	bag := "5b1f0c1e-2d1a-4a77-9d3e-111111111111"
	if err := c.PostBagReplacement(ctx, drsapi.BagReplacement{BagID: bag, RvmID: rvmID, SealNumber: "017824770475060",
		ReplacementDate: "2026-01-05T18:00:00Z", BagWeight: 0.108, ContainerAmount: 6, RelatedTransactionsIDs: txIDs,
		Containers: []drsapi.ContainerFull{{EAN: "5900449000287", Count: 3}, {EAN: "5901012001120", Count: 3}}}); err != nil {
		t.Errorf("PostBagReplacement: %v", err)
	}
	if err := c.PostBagSeal(ctx, drsapi.BagSeal{SealNumber: "017824770475060", BagID: bag, SealTime: "2026-01-05T18:00:01Z"}); err != nil {
		t.Errorf("PostBagSeal: %v", err)
	}
	if err := c.RedeemVoucher(ctx, drsapi.VoucherRedeem{ID: codes[0].ID, RedeemType: drsapi.RedeemCash, RedeemDate: "2026-01-06T09:00:00Z"}); err != nil {
		t.Errorf("RedeemVoucher: %v", err)
	}

	st, err := sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := drssim.Counts{Machines: 1, Transactions: 3, BagFillStatus: 1, BagReplacements: 1, BagSeals: 1, VouchersIssued: 5, VouchersRedeemed: 1}
	if st.Counts != want {
		t.Errorf("stored = %+v; want %+v", st.Counts, want)
	}
	if retries := len(clk.Waits()); retries == 0 || st.Faults["error-rate"] != retries {
		t.Errorf("retries = %d, injected 503s = %d; want equal and more than 0", retries, st.Faults["error-rate"])
	}
	txs, _ := sim.Transactions(ctx)
	for i, raw := range txs {
		var got drsapi.Transaction
		if err := json.Unmarshal(raw, &got); err != nil || got.ID != txIDs[i] {
			t.Errorf("stored transaction %d = %s; want id %s", i, raw, txIDs[i])
		}
	}
}
