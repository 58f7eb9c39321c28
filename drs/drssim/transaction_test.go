package drssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
)

func TestTransactionAcceptedWithVoucher(t *testing.T) {
	e := newEnv(t, nil)
	v, err := e.c.PostTransaction(context.Background(), e.tx(uuidN(1)))
	if err != nil {
		t.Fatalf("PostTransaction: %v", err)
	}
	if len(v.ID) != 13 || !strings.HasPrefix(v.ID, "29") {
		t.Errorf("voucher id = %q; want a generated EAN-13 in prefix 29", v.ID)
	}
	if v.IssuedAt != "2026-01-05T08:01:30Z" || v.ValidUntil != "2026-02-04T08:01:30Z" || v.PrintType != drsapi.PrintBarcode {
		t.Errorf("voucher = %+v; want issued at the end, valid 30 days, barcode", v)
	}

	// A voucher code the machine chose itself is kept.
	tx := e.tx(uuidN(2))
	tx.Voucher.ID = "MY-OWN-CODE-1"
	v, err = e.c.PostTransaction(context.Background(), tx)
	if err != nil || v.ID != "MY-OWN-CODE-1" {
		t.Errorf("PostTransaction with a voucher id = %+v, %v; want that id", v, err)
	}

	// Nothing accepted, no voucher: an empty answer.
	tx = e.tx(uuidN(3))
	tx.Voucher = nil
	tx.Containers = tx.Containers[1:]
	tx.TotalAccepted, tx.TotalAmount, tx.TotalWeight = 0, 2, 0
	v, err = e.c.PostTransaction(context.Background(), tx)
	if err != nil || v != (drsapi.VoucherData{}) {
		t.Errorf("PostTransaction without a voucher = %+v, %v; want an empty answer", v, err)
	}
}

func TestTransactionRepeatIs409(t *testing.T) {
	e := newEnv(t, nil)
	tx := e.tx(uuidN(1))
	if _, err := e.c.PostTransaction(context.Background(), tx); err != nil {
		t.Fatalf("PostTransaction: %v", err)
	}
	_, err := e.c.PostTransaction(context.Background(), tx)
	if !errors.Is(err, drs.ErrAlreadyDelivered) || drs.Retryable(err) {
		t.Fatalf("repeat PostTransaction = %v; want ErrAlreadyDelivered, not retryable", err)
	}
	var ae *drs.APIError
	if !errors.As(err, &ae) || ae.Exception.Code() != "5" {
		t.Errorf("repeat error = %v; want ErrorMessage code 5", err)
	}
	status, body := e.do(t, "POST", "/transaction", tx)
	if status != http.StatusConflict {
		t.Fatalf("repeat status = %d; want 409", status)
	}
	golden(t, "tx-conflict.json", body)

	// Even after the product left the catalogue, a redelivery is a 409 and
	// not a 422: the id is checked first.
	st := drsapi.StatusReject
	e.sim.PutProduct(drsapi.Product{EAN: "5900449000287", Name: "Cola", Deposit: &drsapi.Deposit{Amount: 50}, CollectionStatusID: &st})
	if _, err := e.c.PostTransaction(context.Background(), tx); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("redelivery after a catalogue change = %v; want ErrAlreadyDelivered", err)
	}
	// An id differing only in case is the same id.
	tx.ID = strings.ToUpper(tx.ID)
	if _, err := e.c.PostTransaction(context.Background(), tx); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("redelivery with the id upper-cased = %v; want ErrAlreadyDelivered", err)
	}
	// Nor is it a 400 once the machine is gone.
	if err := e.c.DeleteMachine(context.Background(), e.rvmID); err != nil {
		t.Fatalf("DeleteMachine: %v", err)
	}
	if _, err := e.c.PostTransaction(context.Background(), tx); !errors.Is(err, drs.ErrAlreadyDelivered) {
		t.Errorf("redelivery after the machine was deleted = %v; want ErrAlreadyDelivered", err)
	}
	// A new transaction there is refused as the machine's.
	var ae2 *drs.APIError
	if _, err := e.c.PostTransaction(context.Background(), e.tx(uuidN(2))); !errors.As(err, &ae2) || ae2.Status != http.StatusBadRequest ||
		ae2.Exception.Code() != strconv.Itoa(drsapi.ErrorCodeMachineUnknown) {
		t.Errorf("a new transaction of the deleted machine = %v; want 400 MachineUnknown", err)
	}
}

func TestTransactionValidation(t *testing.T) {
	e := newEnv(t, nil)
	unknownMachine := uuidN(999)
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		status int
		want   []finding
	}{
		{"missing id", func(m map[string]any) { delete(m, "id") }, 400, []finding{{"REQUIRED", "id", -1}}},
		{"null rvmId", func(m map[string]any) { m["rvmId"] = nil }, 400, []finding{{"REQUIRED", "rvmId", -1}}},
		{"missing everything", func(m map[string]any) {
			for k := range m {
				delete(m, k)
			}
		}, 400, []finding{{"REQUIRED", "id", -1}, {"REQUIRED", "containers", -1}, {"REQUIRED", "totalRejected", -1}, {"REQUIRED", "transactionBlocked", -1}}},
		{"container without weight", func(m map[string]any) { delete(row(m, "containers", 1), "weight") }, 400,
			[]finding{{"REQUIRED", "containers.weight", 1}}},
		{"container without ean", func(m map[string]any) { delete(row(m, "containers", 2), "ean") }, 400,
			[]finding{{"REQUIRED", "containers.ean", 2}}},
		{"container with amount instead of count", func(m map[string]any) {
			r := row(m, "containers", 0)
			r["amount"] = r["count"]
			delete(r, "count")
		}, 400, []finding{{"REQUIRED", "containers.count", 0}, {"INCORRECT_FORMAT", "containers.amount", 0}}},
		{"unknown top-level field", func(m map[string]any) { m["totalValue"] = 1 }, 400, []finding{{"INCORRECT_FORMAT", "totalValue", -1}}},
		{"unknown voucher field", func(m map[string]any) { m["voucher"].(map[string]any)["amount"] = 1 }, 400, []finding{{"INCORRECT_FORMAT", "voucher.amount", -1}}},
		{"id not a uuid", func(m map[string]any) { m["id"] = "tx-1" }, 400, []finding{{"INCORRECT_FORMAT", "id", -1}}},
		{"rvmId not a uuid", func(m map[string]any) { m["rvmId"] = "SN-0001" }, 400, []finding{{"INCORRECT_FORMAT", "rvmId", -1}}},
		{"start not a date-time", func(m map[string]any) { m["transactionStartTime"] = "2026-01-05 08:00" }, 400,
			[]finding{{"INCORRECT_FORMAT", "transactionStartTime", -1}}},
		{"end without zone", func(m map[string]any) { m["transactionEndTime"] = "2026-01-05T08:01:30" }, 400,
			[]finding{{"INCORRECT_FORMAT", "transactionEndTime", -1}}},
		{"end before start", func(m map[string]any) { m["transactionEndTime"] = "2026-01-05T07:59:00Z" }, 400,
			[]finding{{"INCONSISTENT", "transactionEndTime", -1}}},
		{"cause 7", func(m map[string]any) { row(m, "containers", 1)["rejectionCauseCode"] = 7 }, 400,
			[]finding{{"ENUM_ERROR", "containers.rejectionCauseCode", 1}}},
		{"count as string", func(m map[string]any) { row(m, "containers", 0)["count"] = "2" }, 400,
			[]finding{{"INCORRECT_FORMAT", "containers.count", 0}}},
		{"count zero", func(m map[string]any) {
			row(m, "containers", 1)["count"] = 0
			m["totalRejected"] = 1
			m["totalAmount"] = 3
		}, 400,
			[]finding{{"VALUE_TOO_LOW", "containers.count", 1}}},
		{"negative weight", func(m map[string]any) { row(m, "containers", 1)["weight"] = -1 }, 400,
			[]finding{{"VALUE_TOO_LOW", "containers.weight", 1}}},
		{"totalAccepted off", func(m map[string]any) { m["totalAccepted"] = 3; m["totalAmount"] = 5 }, 400,
			[]finding{{"INCONSISTENT", "totalAccepted", -1}}},
		{"totalRejected off", func(m map[string]any) { m["totalRejected"] = 1; m["totalAmount"] = 3 }, 400,
			[]finding{{"INCONSISTENT", "totalRejected", -1}}},
		{"totalAmount off", func(m map[string]any) { m["totalAmount"] = 5 }, 400, []finding{{"INCONSISTENT", "totalAmount", -1}}},
		{"redeemType 4", func(m map[string]any) { m["voucher"].(map[string]any)["redeemType"] = 4 }, 400,
			[]finding{{"ENUM_ERROR", "voucher.redeemType", -1}}},
		{"same ean and cause twice", func(m map[string]any) {
			m["containers"] = append(m["containers"].([]any), map[string]any{"ean": "5900449000287", "count": 1, "weight": 21, "rejectionCauseCode": 0})
			m["totalAccepted"], m["totalAmount"] = 3, 5
		}, 400, []finding{{"INCONSISTENT", "containers.ean", 3}}},
		{"unknown machine", func(m map[string]any) { m["rvmId"] = unknownMachine }, 400, []finding{{"8", "", -1}}},
		{"withdrawn product accepted", func(m map[string]any) { row(m, "containers", 0)["ean"] = "5900000000017" }, 422,
			[]finding{{"TRS_PRODUCT_BAD_STATUS", "containers.ean", 0}}},
		{"test-phase and unknown products accepted", func(m map[string]any) {
			row(m, "containers", 0)["ean"] = "5900000000024"
			row(m, "containers", 0)["count"] = 1
			m["containers"] = append(m["containers"].([]any), map[string]any{"ean": "4000000000006", "count": 1, "weight": 20, "rejectionCauseCode": 0})
		}, 422, []finding{{"TRS_PRODUCT_BAD_STATUS", "containers.ean", 0}, {"TRS_PRODUCT_BAD_STATUS", "containers.ean", 3}}},
		{"accepted without ean", func(m map[string]any) { row(m, "containers", 0)["ean"] = "" }, 422,
			[]finding{{"TRS_PRODUCT_BAD_STATUS", "containers.ean", 0}}},
		{"weight as string in row 2", func(m map[string]any) { row(m, "containers", 2)["weight"] = "9" }, 400,
			[]finding{{"INCORRECT_FORMAT", "containers.weight", 2}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := asMap(t, e.tx(uuidN(100+i)))
			tt.mutate(m)
			status, body := e.do(t, "POST", "/transaction", m)
			if status != tt.status {
				t.Fatalf("POST /transaction (%s) = %d %s; want %d", tt.name, status, body, tt.status)
			}
			for _, f := range tt.want {
				if !hasFinding(body, f) {
					t.Errorf("POST /transaction (%s) body %s lacks %v", tt.name, body, f)
				}
			}
			golden(t, "tx-"+slug(tt.name)+".json", body)
		})
	}
	txs, err := e.sim.Transactions(context.Background())
	if err != nil || len(txs) != 0 {
		t.Errorf("Transactions after refusals = %d, %v; want none stored", len(txs), err)
	}
}

func TestTransactionBodiesThatAreFine(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"unknown ean rejected", func(m map[string]any) { row(m, "containers", 1)["ean"] = "4000000000006" }},
		{"upc-a of a product", func(m map[string]any) {
			m["containers"] = append(m["containers"].([]any), map[string]any{"ean": "036000291452", "count": 1, "weight": 200, "rejectionCauseCode": 0})
			m["totalAccepted"], m["totalAmount"] = 3, 5
		}},
		{"no totalAmount", func(m map[string]any) { delete(m, "totalAmount") }},
		{"fractional seconds and offset", func(m map[string]any) { m["transactionEndTime"] = "2026-01-05T09:01:30.250+01:00" }},
		{"donation", func(m map[string]any) { m["voucher"] = map[string]any{"redeemed": true, "redeemType": 3} }},
		{"operator example voucher", func(m map[string]any) {
			m["voucher"] = map[string]any{"id": "string", "redeemed": true, "redeemType": 0}
		}},
		{"blocked", func(m map[string]any) { m["transactionBlocked"] = true }},
	}
	for i, tt := range tests {
		m := asMap(t, e.tx(uuidN(200+i)))
		tt.mutate(m)
		if status, body := e.do(t, "POST", "/transaction", m); status != http.StatusOK {
			t.Errorf("POST /transaction (%s) = %d %s; want 200", tt.name, status, body)
		}
	}
}

func TestEmptyAndBrokenBodies(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/transaction", "/bag-fill-status", "/bag-replacement", "/bag-seal", "/machine", "/voucher/redeem"} {
		for _, body := range []string{"", "{", "[]", `"x"`} {
			status, out := e.do(t, "POST", path, body)
			if status != http.StatusBadRequest || drsapi.ParseError(out) == nil {
				t.Errorf("POST %s %q = %d %s; want 400 with an ApiException", path, body, status, out)
			}
		}
	}
}

func TestVoucherCodeReuseRefused(t *testing.T) {
	e := newEnv(t, nil)
	other := e.register(t, "SN-0002")
	ctx := context.Background()
	mine, err := e.c.VoucherBuffer(ctx, e.rvmID, 2)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.c.VoucherBuffer(ctx, other, 1)
	if err != nil {
		t.Fatal(err)
	}
	tx := e.tx(uuidN(1))
	tx.Voucher.ID = mine[0].ID
	if v, err := e.c.PostTransaction(ctx, tx); err != nil || v.ID != mine[0].ID {
		t.Fatalf("PostTransaction with a buffered code = %+v, %v; want that code", v, err)
	}
	tests := []struct {
		name, code, want string
	}{
		{"used twice", mine[0].ID, "VOUCHER_ALREADY_USED"},
		{"another machine's", theirs[0].ID, "VOUCHER_OTHER_MACHINE"},
	}
	for i, tt := range tests {
		tx := e.tx(uuidN(10 + i))
		tx.Voucher.ID = tt.code
		_, err := e.c.PostTransaction(ctx, tx)
		var ae *drs.APIError
		if !errors.As(err, &ae) || ae.Status != 422 || ae.Exception.Code() != tt.want {
			t.Errorf("PostTransaction with a code %s = %v; want 422 %s", tt.name, err, tt.want)
		}
	}
	// A refused transaction is not stored: it can be fixed and sent again.
	tx = e.tx(uuidN(10))
	tx.Voucher.ID = mine[1].ID
	if _, err := e.c.PostTransaction(ctx, tx); err != nil {
		t.Errorf("PostTransaction fixed after a refusal = %v; want nil", err)
	}
}

func TestSimTransactionsListsExactBodies(t *testing.T) {
	e := newEnv(t, nil)
	var sent []string
	for i := range 3 {
		m := asMap(t, e.tx(uuidN(i+1)))
		m["transactionEndTime"] = time.Date(2026, 1, 5, 8, 2+i, 0, 0, time.UTC).Format(time.RFC3339)
		// Sent with spaces and in this key order: listed compacted, as is.
		b, _ := json.MarshalIndent(m, "", "  ")
		if status, out := e.do(t, "POST", "/transaction", b); status != 200 {
			t.Fatalf("POST /transaction = %d %s", status, out)
		}
		compact, _ := json.Marshal(m)
		sent = append(sent, string(compact))
	}
	// The listing shows every transaction: with a token configured it
	// needs the token.
	resp, err := http.Get(e.srv.URL + "/_sim/transactions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /_sim/transactions without the token = %d; want 401", resp.StatusCode)
	}
	status, body := e.do(t, "GET", "/_sim/transactions", nil)
	var got []json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil || status != 200 {
		t.Fatalf("GET /_sim/transactions = %d, %v", status, err)
	}
	if len(got) != len(sent) {
		t.Fatalf("GET /_sim/transactions = %d bodies; want %d", len(got), len(sent))
	}
	for i := range got {
		if string(got[i]) != sent[i] {
			t.Errorf("transaction %d = %s; want %s", i, got[i], sent[i])
		}
	}
}
