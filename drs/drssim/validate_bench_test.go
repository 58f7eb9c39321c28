package drssim

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/deposit-rvm/rvm/drs/drsapi"
)

// BenchmarkCheckTransaction validates a peak session's transaction: 82
// container rows, as the fleet bench sends them.
func BenchmarkCheckTransaction(b *testing.B) {
	t := drsapi.Transaction{
		ID: "8f2b6c1e-5d4a-4c3b-9a2e-1f0e9d8c7b6a", RvmID: "3c9d2e1f-0a8b-4c7d-8e6f-5a4b3c2d1e0f",
		TransactionStartTime: "2026-01-05T08:00:00Z", TransactionEndTime: "2026-01-05T08:03:00Z",
		Voucher: &drsapi.VoucherBase{ID: "2900000000015"},
	}
	for i := range 82 {
		t.Containers = append(t.Containers, drsapi.Container{EAN: fmt.Sprintf("590%010d", i), Count: 1, Weight: 25})
		t.TotalAccepted++
		t.TotalAmount++
		t.TotalWeight += 25
	}
	body, err := json.Marshal(t)
	if err != nil {
		b.Fatal(err)
	}
	if _, c := checkTransaction(body); !c.ok() {
		b.Fatalf("checkTransaction: %+v", c.msgs)
	}
	b.ReportAllocs()
	for b.Loop() {
		checkTransaction(body)
	}
}
