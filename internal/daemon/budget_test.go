package daemon

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/deposit-rvm/rvm/internal/simrun"
	"github.com/deposit-rvm/rvm/internal/testbroker"
	"github.com/deposit-rvm/rvm/machine"
	"github.com/deposit-rvm/rvm/machine/catalog"
	"github.com/deposit-rvm/rvm/machine/catalog/sample"
	"github.com/deposit-rvm/rvm/machine/config"
	"github.com/deposit-rvm/rvm/machine/ledger"
	"github.com/deposit-rvm/rvm/telemetry"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// TestOutboxBudget: with the broker away and the outbox over its disk
// budget, the machine blocks intake (and says why) instead of dropping a
// money event. Once the broker is back, intake opens when the records are
// off the disk: after the broker's PUBACKs without gateway acks, only
// after the gateway confirmed them with (the default).
func TestOutboxBudget(t *testing.T) {
	tests := []struct {
		name        string
		gatewayAcks bool
	}{
		{"the broker's PUBACK is enough", false},
		{"the gateway confirms", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testbroker.Start(t)
			b.Stop()
			db := filepath.Join(t.TempDir(), "rvmd.db")
			led, err := ledger.Open(db)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			led.SetMeta(ctx, "rvm_id", "6283cb0c-ee81-42bf-9fef-7fb6aadeb4ba")
			big := map[string]string{"pad": strings.Repeat("x", 64<<10)}
			for i := 0; i < 20; i++ { // 1.3 MB waiting
				if err := led.AppendEvent(ctx, "test", time.Now(), "", big); err != nil {
					t.Fatal(err)
				}
			}
			led.Close()

			cfg := config.Default()
			cfg.Serial, cfg.OutboxBudgetBytes, cfg.GatewayAcks = serial, 1<<20, tt.gatewayAcks
			ps, _ := catalog.Parse(sample.JSON())
			cat, _ := catalog.New(1, ps)
			ready := make(chan *Daemon, 1)
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- Run(rctx, Options{Config: cfg, DBPath: db, Rig: simrun.NewRig(simrun.RigOptions{Seed: 1, SimState: db + ".sim"}), Catalog: cat, MQTT: b.URL(), Seed: 1,
					Ready: func(d *Daemon) { ready <- d }})
			}()
			d := <-ready
			blocked := func() []string {
				v, err := d.Do(ctx, func(ctx context.Context, c *machine.Controller) (any, error) { return c.Status().Blocked, nil })
				if err != nil {
					t.Fatal(err)
				}
				return v.([]string)
			}
			waitFor(t, "intake blocked for the outbox", func() bool { return slices.Contains(blocked(), machine.BlockOutbox) })
			if st := d.status(); !st.IntakeBlocked || st.BlockReason != machine.BlockOutbox {
				t.Errorf("status %+v; want blocked for %q", st, machine.BlockOutbox)
			}
			b.Restart()
			if tt.gatewayAcks {
				// At the broker, not confirmed: still on disk, still over.
				waitFor(t, "the outbox at the broker", func() bool {
					rows, _, err := outbox.Depth(ctx, d.led.DB())
					return err == nil && rows == 0
				})
				if over, err := telemetry.OverBudget(ctx, d.led.DB(), cfg.OutboxBudgetBytes); !over || err != nil {
					t.Errorf("OverBudget with nothing confirmed = %v, %v; want true", over, err)
				}
				last, err := outbox.LastSeq(ctx, d.led.DB())
				if err != nil {
					t.Fatal(err)
				}
				ack, _ := json.Marshal(envelope.Ack{V: 1, Seqs: [][2]int64{{1, last}}})
				gatewayPublish(t, b.URL(), envelope.AckTopic(serial), ack)
			}
			waitFor(t, "intake open after the drain", func() bool { return !slices.Contains(blocked(), machine.BlockOutbox) })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// gatewayPublish publishes one message as the gateway would and waits for
// the broker's PUBACK.
func gatewayPublish(t *testing.T, url, topic string, payload []byte) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("gw-" + t.Name()))
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
