package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/internal/ean"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// ErrCommand is wrapped by the errors of malformed commands.
var ErrCommand = errors.New("daemon: bad command")

// HandleCommand applies a command from the fleet on the loop (it implements
// telemetry.CommandHandler). Nothing changes when it returns an error.
func (d *Daemon) HandleCommand(ctx context.Context, name string, cmd envelope.Command) (any, error) {
	return d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
		return d.apply(ctx, c, name, cmd.Body)
	})
}

func decode(body json.RawMessage, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrCommand, err)
	}
	return nil
}

func (d *Daemon) apply(ctx context.Context, c *machine.Controller, name string, body json.RawMessage) (any, error) {
	led := d.led
	switch name {
	case envelope.CmdCatalog:
		var u envelope.CatalogUpdate
		if err := decode(body, &u); err != nil {
			return nil, err
		}
		return d.applyCatalog(ctx, c, u)
	case envelope.CmdVouchers:
		var u envelope.VoucherTopUp
		if err := decode(body, &u); err != nil {
			return nil, err
		}
		for i, v := range u.Vouchers {
			if v.ID == "" || (v.PrintType != drsapi.PrintBarcode && v.PrintType != drsapi.PrintQR) {
				return nil, fmt.Errorf("%w: voucher %d: id %q, printType %d", ErrCommand, i, v.ID, v.PrintType)
			}
		}
		added, err := led.AddVouchers(ctx, u.Vouchers)
		if err != nil {
			return nil, err
		}
		n, err := led.BufferedVouchers(ctx)
		return map[string]int{"added": added, "buffered": n}, err
	case envelope.CmdConfig:
		cfg, err := d.cfg.With(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCommand, err)
		}
		var p map[string]json.RawMessage
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCommand, err)
		}
		if d.patch == nil {
			d.patch = map[string]json.RawMessage{}
		}
		for k, v := range p {
			d.patch[k] = v
		}
		b, _ := json.Marshal(d.patch)
		if err := led.SetMeta(ctx, "config_patch", string(b)); err != nil {
			return nil, err
		}
		d.cfg = cfg
		c.SetOptions(d.machineOptions(cfg))
		return cfg, nil
	case envelope.CmdBlock:
		var b struct {
			Reason string `json:"reason"`
		}
		if err := decode(body, &b); err != nil {
			return nil, err
		}
		return nil, c.Block(ctx, machine.BlockOperator)
	case envelope.CmdUnblock:
		if err := decode(body, &struct{}{}); err != nil {
			return nil, err
		}
		return nil, c.Unblock(ctx, machine.BlockOperator)
	case envelope.CmdSetRvmID:
		var b struct {
			RvmID string `json:"rvmId"`
		}
		if err := decode(body, &b); err != nil {
			return nil, err
		}
		if !uuidRE.MatchString(b.RvmID) {
			return nil, fmt.Errorf("%w: rvmId %q is not a UUID", ErrCommand, b.RvmID)
		}
		if err := led.SetMeta(ctx, "rvm_id", b.RvmID); err != nil {
			return nil, err
		}
		c.SetRvmID(b.RvmID)
		if err := c.Unblock(ctx, machine.BlockUnregistered); err != nil {
			return nil, err
		}
		return map[string]string{"rvmId": b.RvmID}, nil
	case envelope.CmdStatus:
		return d.status(), nil
	case envelope.CmdClearFault:
		var b struct {
			By string `json:"by"`
		}
		if err := decode(body, &b); err != nil {
			return nil, err
		}
		if b.By == "" {
			b.By = "fleet"
		}
		return nil, c.ClearFault(ctx, b.By)
	}
	return nil, fmt.Errorf("%w: unknown command %q", ErrCommand, name)
}

// applyCatalog applies a versioned full snapshot or delta: the new
// catalogue is built aside, persisted, and only then swapped in.
func (d *Daemon) applyCatalog(ctx context.Context, c *machine.Controller, u envelope.CatalogUpdate) (any, error) {
	cur := c.Catalog()
	if cur != nil && u.Version <= cur.Version() {
		return map[string]any{"stale": true, "version": cur.Version()}, nil
	}
	raw := map[string]json.RawMessage{}
	var ps []catalog.Product
	for i, b := range u.Products {
		var dp drsapi.Product
		if err := json.Unmarshal(b, &dp); err != nil {
			return nil, fmt.Errorf("%w: product %d: %v", ErrCommand, i, err)
		}
		p, err := catalog.FromDRS(dp)
		if err != nil {
			return nil, fmt.Errorf("%w: product %d: %v", ErrCommand, i, err)
		}
		ps = append(ps, p)
		raw[p.EAN] = b
	}
	var next *catalog.Catalog
	var err error
	remove := make([]string, 0, len(u.Removed))
	for _, e := range u.Removed {
		if n, _, err := ean.Normalize(e); err == nil {
			e = n
		}
		remove = append(remove, e)
	}
	if u.Full || cur == nil {
		next, err = catalog.New(u.Version, ps)
	} else {
		next, err = cur.Apply(u.Version, ps, remove)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCommand, err)
	}
	if err := d.led.SaveCatalog(ctx, u.Version, u.Full || cur == nil, raw, remove); err != nil {
		return nil, err
	}
	c.SetCatalog(next)
	return map[string]any{"version": next.Version(), "products": next.Len()}, nil
}
