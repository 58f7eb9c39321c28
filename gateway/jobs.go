package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Keys of the job bookkeeping in the store.
const (
	kvCatalogFull = "catalog.lastFull"
	kvCatalogIncr = "catalog.lastIncremental"
)

// incrementalSkew re-reads a little before the last pull, so that a
// product stamped while the previous pull ran is not missed.
const incrementalSkew = time.Minute

// jobs runs the periodic work on one replica at a time: whoever holds the
// "jobs" lease.
func (g *Gateway) jobs(ctx context.Context) {
	t := g.clk.NewTicker(g.o.JobInterval)
	defer t.Stop()
	for {
		ok, err := g.st.TryLease(ctx, "jobs", g.owner, g.clk.Now(), 3*g.o.JobInterval)
		if err != nil && ctx.Err() == nil {
			g.log.Error("gateway: jobs lease", slog.String("err", err.Error()))
		}
		if ok {
			if err := g.SyncCatalog(ctx, false); err != nil && ctx.Err() == nil {
				g.log.Warn("gateway: catalogue sync", slog.String("err", err.Error()))
			}
			if err := g.PushCatalog(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("gateway: catalogue push", slog.String("err", err.Error()))
			}
			if err := g.TopUpVouchers(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("gateway: voucher top-up", slog.String("err", err.Error()))
			}
			if _, err := g.PurgeFailures(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("gateway: purge failures", slog.String("err", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (g *Gateway) kvTime(ctx context.Context, name string) (time.Time, error) {
	v, err := g.st.KV(ctx, name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("gateway: %s = %q: %w", name, v, err)
	}
	return t, nil
}

// SyncCatalog pulls the operator's catalogue when a pull is due: a full one
// every CatalogFullEvery (or when forced), otherwise the products updated
// since the last pull every CatalogIncrementalEvery.
func (g *Gateway) SyncCatalog(ctx context.Context, forceFull bool) error {
	now := g.clk.Now()
	lastFull, err := g.kvTime(ctx, kvCatalogFull)
	if err != nil {
		return err
	}
	lastIncr, err := g.kvTime(ctx, kvCatalogIncr)
	if err != nil {
		return err
	}
	full := forceFull || lastFull.IsZero() || now.Sub(lastFull) >= g.o.CatalogFullEvery
	if !full && now.Sub(lastIncr) < g.o.CatalogIncrementalEvery {
		return nil
	}
	since := time.Time{}
	if !full {
		since = lastIncr
		if lastFull.After(since) {
			since = lastFull
		}
		since = since.Add(-incrementalSkew)
	}
	products, err := g.drs.AllProducts(ctx, since)
	if err != nil {
		return fmt.Errorf("gateway: catalogue pull: %w", err)
	}
	ps := make([]store.Product, 0, len(products))
	for _, p := range products {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("gateway: catalogue product %s: %w", p.EAN, err)
		}
		ps = append(ps, store.Product{EAN: p.EAN, Body: b})
	}
	version, changed, err := g.st.ApplyProducts(ctx, ps, full)
	if err != nil {
		return err
	}
	stamp := now.UTC().Format(time.RFC3339Nano)
	if full {
		if err := g.st.SetKV(ctx, kvCatalogFull, stamp); err != nil {
			return err
		}
	}
	if err := g.st.SetKV(ctx, kvCatalogIncr, stamp); err != nil {
		return err
	}
	g.log.Info("gateway: catalogue pulled", slog.Bool("full", full), slog.Int("products", len(products)),
		slog.Int64("version", version), slog.Bool("changed", changed))
	return nil
}

// voucherLevel is the machine's voucher buffer: what its status reports
// ("vouchersLeft"), else what the gateway sent minus what it saw used.
func voucherLevel(m store.Machine) int64 {
	if len(m.Status) > 0 {
		var s struct {
			VouchersLeft *int64 `json:"vouchersLeft"`
		}
		if json.Unmarshal(m.Status, &s) == nil && s.VouchersLeft != nil {
			return *s.VouchersLeft
		}
	}
	return m.VouchersSent - m.VouchersUsed
}

// TopUpVouchers fetches operator voucher codes (GET /voucher/buffer) for
// every registered machine whose buffer is below VoucherLow, up to
// VoucherTarget, and sends them to the machine.
func (g *Gateway) TopUpVouchers(ctx context.Context) error {
	ms, err := g.st.Machines(ctx, g.today())
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.RvmID == "" {
			continue
		}
		level := voucherLevel(m)
		if level >= int64(g.o.VoucherLow) {
			continue
		}
		if ok, err := g.registered(ctx, m); err != nil || !ok {
			if err != nil {
				g.log.Warn("gateway: voucher buffer", slog.String("machine", m.Serial), slog.String("err", err.Error()))
			}
			continue
		}
		n := int64(g.o.VoucherTarget) - max(level, 0)
		buf, err := g.drs.VoucherBufferFull(ctx, m.RvmID, int(n))
		if err != nil {
			g.log.Warn("gateway: voucher buffer", slog.String("machine", m.Serial), slog.String("err", err.Error()))
			continue
		}
		if len(buf.VoucherIDList) == 0 {
			continue
		}
		top := envelope.VoucherTopUp{}
		for _, id := range buf.VoucherIDList {
			top.Vouchers = append(top.Vouchers, envelope.BufferedVoucher{ID: id, PrintType: buf.PrintType})
		}
		body, _ := json.Marshal(top)
		cmd, _ := json.Marshal(envelope.Command{ID: uuid.NewString(), TS: g.clk.Now().UTC().Format(time.RFC3339), Body: body})
		if err := g.publish(ctx, envelope.CommandTopic(m.Serial, envelope.CmdVouchers), cmd); err != nil {
			return err
		}
		if err := g.st.AddVoucherBuffer(ctx, m.Serial, buf.VoucherIDList, g.clk.Now()); err != nil {
			return err
		}
	}
	return nil
}

// registered reports whether the operator holds m's rvmId: from what the
// store saw it accept, else by asking it (HEAD /machine/{id}). A machine
// whose registration is still on its way is not asked about yet.
func (g *Gateway) registered(ctx context.Context, m store.Machine) (bool, error) {
	ok, err := g.st.Registered(ctx, m.Serial)
	if err != nil || ok {
		return ok, err
	}
	ok, err = g.fwdDRS.MachineExists(ctx, m.RvmID)
	if err == nil && !ok {
		g.log.Debug("gateway: voucher buffer waits for the registration", slog.String("machine", m.Serial), slog.String("rvmId", m.RvmID))
	}
	return ok, err
}

// PurgeFailures drops failure report entries older than FailureRetention.
func (g *Gateway) PurgeFailures(ctx context.Context) (int64, error) {
	return g.st.PurgeFailures(ctx, g.clk.Now().Add(-g.o.FailureRetention))
}

func (g *Gateway) today() string { return g.clk.Now().UTC().Format(time.DateOnly) }
