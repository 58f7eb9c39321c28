package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/deposit-rvm/rvm/hal"
	"github.com/deposit-rvm/rvm/internal/clock"
	"github.com/deposit-rvm/rvm/internal/kiosk"
	"github.com/deposit-rvm/rvm/internal/scenario"
	"github.com/deposit-rvm/rvm/machine"
)

// startKiosk listens on opts.UI and serves the customer's page until ctx
// ends; the controller's events feed it (d.onEvent).
func (d *Daemon) startKiosk(ctx context.Context) (wait func(), err error) {
	ln, err := net.Listen("tcp", d.opts.UI)
	if err != nil {
		return nil, fmt.Errorf("daemon: kiosk: %w", err)
	}
	k := kiosk.New(kiosk.Options{
		Actor: d, Logger: d.log, Sim: d.simControls(),
		Status: func() machine.Status {
			if d.runner == nil || d.runner.Controller() == nil {
				return machine.Status{}
			}
			return d.runner.Controller().Status()
		},
	})
	d.onEvent = k.Observe
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := k.Serve(ctx, ln); err != nil {
			d.log.Error("kiosk", "err", err)
		}
	}()
	d.log.Info("kiosk", "url", "http://"+ln.Addr().String()+"/")
	return func() { <-done }, nil
}

// errIntakeClosed: the simulated customer's container is refused at the
// chute (bag full, fault, blocked).
var errIntakeClosed = errors.New("daemon: intake is closed")

// simControls are the simulated machine's controls, served by the kiosk
// under /sim/ ONLY on a simulated machine (rvmd run -sim), so a browser
// test can drive a session step by step (with -customers=false):
//
//	POST /sim/step     one scenario line: insert, fault or service (clear)
//	POST /sim/service?on=true|false   a technician opens or closes service mode
func (d *Daemon) simControls() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sim/step", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		steps, err := scenario.Parse(bytesReader(b))
		if err != nil || len(steps) != 1 {
			http.Error(w, fmt.Sprintf("daemon: sim step: want one scenario line: %v", err), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := d.simStep(ctx, steps[0]); err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, errIntakeClosed) || errors.Is(err, ErrCommand) {
				code = http.StatusConflict
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sim/service", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			http.Error(w, "daemon: sim service: on must be true or false", http.StatusBadRequest)
			return
		}
		_, err = d.Do(r.Context(), func(ctx context.Context, c *machine.Controller) (any, error) {
			if on {
				return nil, c.Block(ctx, machine.BlockService)
			}
			return nil, c.Unblock(ctx, machine.BlockService)
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// simStep plays one scenario step on the live simulated machine, waiting
// while a container is on its way.
func (d *Daemon) simStep(ctx context.Context, st scenario.Step) error {
	for {
		v, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) {
			sm := d.runner.Sim()
			switch st.Op {
			case scenario.OpInsert:
				if sm.Busy() || !c.AtRest() {
					return false, nil
				}
				if !c.IntakeOpen() {
					return nil, errIntakeClosed
				}
				return d.runner.Offer(ctx, st), nil
			case scenario.OpFault:
				sm.InjectFault(hal.Fault(st.Kind))
				return true, nil
			case scenario.OpService:
				sm.ClearFaults()
				return true, c.ClearFault(ctx, "technician")
			}
			return nil, fmt.Errorf("%w: sim step %q: only insert, fault and service", ErrCommand, st.Op)
		})
		if err != nil {
			return err
		}
		if done, _ := v.(bool); done {
			return nil
		}
		if err := clock.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
