package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/drs"
	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
)

// StationOptions describe a manual collection point to register.
type StationOptions struct {
	Name     string // the station's name, unique in this gateway
	Store    string // the collection point number at the operator (drsCpNo)
	DRSURL   string
	DRSToken string
}

// AddStation registers a manual collection point with the operator as a
// machine of its own (POST /machine) and returns its rvmId. Running it
// again for the same name registers the same rvmId again.
func AddStation(ctx context.Context, st *store.Store, o StationOptions, now time.Time) (string, error) {
	if !tillNameRE.MatchString(o.Name) {
		return "", fmt.Errorf("%w: %q", ErrTillName, o.Name)
	}
	if o.Store == "" || len(o.Store) > drsapi.MaxIDLen {
		return "", fmt.Errorf("gateway: station %s: -store %q is not a collection point number", o.Name, o.Store)
	}
	if o.DRSURL == "" {
		return "", fmt.Errorf("%w: no operator URL (-drs)", ErrOptions)
	}
	s, err := st.PutStation(ctx, store.Station{Name: o.Name, Store: o.Store, RvmID: uuid.NewString()}, now)
	if err != nil {
		return "", err
	}
	cl := drs.New(o.DRSURL, o.DRSToken, nil)
	id, err := cl.RegisterMachine(ctx, drsapi.MachineUpdate{
		ID: s.RvmID, SerialNumber: s.Serial(), Name: o.Name, DrsCpNo: o.Store,
		Model: "manual collection point", Manufacturer: "rvm-gateway",
		Bins: []drsapi.BinPost{{WasteType: []int{7, 3}, Litrage: 240}},
	})
	if err != nil {
		return "", fmt.Errorf("gateway: station %s: %w", o.Name, err)
	}
	if err := st.StationRegistered(ctx, o.Name); err != nil {
		return "", err
	}
	return id, nil
}
