package drs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/drs/drssim"
)

// A transaction delivered twice: the second answer is "already delivered",
// which a sender treats as success.
func Example() {
	accept := drsapi.StatusAccept
	sim, _ := drssim.New(drssim.Options{Catalog: []drsapi.Product{
		{EAN: "5900449000287", Name: "Cola 0,5 L", Deposit: &drsapi.Deposit{Amount: 50}, CollectionStatusID: &accept},
	}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	ctx := context.Background()
	c := drs.New(srv.URL, "", nil)
	rvmID, _ := c.RegisterMachine(ctx, drsapi.MachineUpdate{SerialNumber: "SN-1", DrsCpNo: "1100061-152", Bins: []drsapi.BinPost{}})
	tx := drsapi.Transaction{
		ID: "497f6eca-6276-4993-bfeb-53cbbbba6f08", RvmID: rvmID,
		TotalAmount: 1, TotalAccepted: 1, TotalWeight: 21,
		TransactionStartTime: "2026-01-05T08:00:00Z", TransactionEndTime: "2026-01-05T08:00:30Z",
		Containers: []drsapi.Container{{EAN: "5900449000287", Count: 1, Weight: 21}},
		Voucher:    &drsapi.VoucherBase{ID: "2900000000017"},
	}
	v, err := c.PostTransaction(ctx, tx)
	fmt.Println(v.ID, v.ValidUntil, err)
	_, err = c.PostTransaction(ctx, tx)
	fmt.Println(errors.Is(err, drs.ErrAlreadyDelivered), drs.Retryable(err))

	tx.ID = "497f6eca-6276-4993-bfeb-53cbbbba6f09"
	tx.Containers[0].EAN = "4000000000006"
	_, err = c.PostTransaction(ctx, tx)
	fmt.Println(err)
	// Output:
	// 2900000000017 2026-02-04T08:00:30Z <nil>
	// true false
	// drs: POST /transaction: 422 TRS_PRODUCT_BAD_STATUS containers.ean[0]: api.err.msg.trs.product.bad.status (UNKNOWN)
}
