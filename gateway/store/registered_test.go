package store_test

import (
	"context"
	"testing"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// A machine is registered once the operator is known to hold its rvmId;
// an rvmId the machine's own status names is not enough.
func TestRegistered(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		check := func(serial string, want bool) {
			t.Helper()
			if got, err := st.Registered(ctx, serial); err != nil || got != want {
				t.Errorf("Registered(%q) = %v, %v; want %v", serial, got, err, want)
			}
		}
		if err := st.SetRvmID(ctx, "M-STATUS", "0b6c3a57-5a0e-4c47-9a53-1f7a4ad0c0a1"); err != nil {
			t.Fatal(err)
		}
		check("M-STATUS", false)
		check("M-NONE", false)
		if err := st.PutRegistration(ctx, "M-OP", "1b6c3a57-5a0e-4c47-9a53-1f7a4ad0c0a1", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		check("M-OP", true)

		if _, err := st.SaveBatch(ctx, store.Batch{Events: []store.Event{ev("reg-1", "M-REG", 1, "registration", true)}}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRvmID(ctx, "M-REG", "2b6c3a57-5a0e-4c47-9a53-1f7a4ad0c0a1"); err != nil {
			t.Fatal(err)
		}
		check("M-REG", false)
		if _, err := st.MarkDelivered(ctx, "reg-1", t0, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		check("M-REG", true)
	})
}

// A machine's catalogue version comes from its replies and only goes up.
func TestMachineAcceptedCatalog(t *testing.T) {
	each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := st.SetRvmID(ctx, "M1", ""); err != nil {
			t.Fatal(err)
		}
		for _, v := range []int64{3, 2, 5} {
			if err := st.MachineAcceptedCatalog(ctx, "M1", v); err != nil {
				t.Fatal(err)
			}
		}
		if m, err := st.Machine(ctx, "M1", ""); err != nil || m.CatalogVersion != 5 {
			t.Errorf("catalogue version after replies 3, 2, 5 = %d, %v; want 5", m.CatalogVersion, err)
		}
	})
}
