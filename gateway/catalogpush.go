package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/internal/backoff"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// A machine is at the catalogue version it says it holds in its reply to
// a catalogue command, not at the version last published to it: a push
// it refused, or never received, is pushed again, spaced by catalogRetry,
// until the machine answers that it holds the version.
var catalogRetry = backoff.Policy{Min: time.Minute, Max: time.Hour}

// ReplyFilter is the machines' command replies, shared by the replicas:
// what a reply says goes to the shared store, so one replica reads each.
func ReplyFilter(group string) string { return "$share/" + group + "/rvm/+/cmd-reply" }

// replySerial returns SERIAL of rvm/SERIAL/cmd-reply.
func replySerial(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, "rvm/")
	if !ok {
		return "", false
	}
	serial, ok := strings.CutSuffix(rest, "/cmd-reply")
	return serial, ok && serial != "" && !strings.Contains(serial, "/")
}

// catalogPush is a machine's pending push, kept in the store (kv) so that
// any replica reads the reply and a restart keeps the back-off.
type catalogPush struct {
	Version  int64     `json:"version"`
	Attempts int       `json:"attempts"`
	Next     time.Time `json:"next"`
	Error    string    `json:"error,omitempty"` // the machine's last refusal
}

func kvCatalogPush(serial string) string { return "catalog.push/" + serial }

func (g *Gateway) catalogPushState(ctx context.Context, serial string) (catalogPush, error) {
	var p catalogPush
	v, err := g.st.KV(ctx, kvCatalogPush(serial))
	if err != nil || v == "" {
		return p, err
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return catalogPush{}, nil // unreadable bookkeeping: push afresh
	}
	return p, nil
}

func (g *Gateway) setCatalogPushState(ctx context.Context, serial string, p *catalogPush) error {
	v := ""
	if p != nil {
		b, _ := json.Marshal(p)
		v = string(b)
	}
	return g.st.SetKV(ctx, kvCatalogPush(serial), v)
}

// PushCatalog sends the current catalogue to every machine behind it whose
// previous push is not still waiting for its reply (or backing off after
// a refusal).
func (g *Gateway) PushCatalog(ctx context.Context) error {
	version, err := g.st.CatalogVersion(ctx)
	if err != nil || version == 0 {
		return err
	}
	ms, err := g.st.Machines(ctx, g.today())
	if err != nil {
		return err
	}
	now := g.clk.Now()
	for _, m := range ms {
		if m.CatalogVersion >= version {
			continue
		}
		p, err := g.catalogPushState(ctx, m.Serial)
		if err != nil {
			return err
		}
		if p.Version == version && now.Before(p.Next) {
			continue
		}
		if err := g.pushCatalogTo(ctx, m, version, p); err != nil {
			return err
		}
	}
	return nil
}

// pushCatalogTo sends one machine a delta when it is online and exactly one
// version behind, and the full snapshot otherwise: a machine that was away
// may have lost or missed anything. Each push has its own command id (a
// machine answers a repeated id with its first reply), and the next one is
// due after catalogRetry's wait unless the machine accepts first.
func (g *Gateway) pushCatalogTo(ctx context.Context, m store.Machine, version int64, p catalogPush) error {
	full := !(m.Online && m.CatalogVersion > 0 && m.CatalogVersion == version-1)
	since := m.CatalogVersion
	if full {
		since = 0
	}
	ups, removed, err := g.st.ProductsSince(ctx, since)
	if err != nil {
		return err
	}
	cu := envelope.CatalogUpdate{Version: version, Full: full, Products: make([]json.RawMessage, 0, len(ups)), Removed: removed}
	for _, p := range ups {
		cu.Products = append(cu.Products, p.Body)
	}
	body, err := json.Marshal(cu)
	if err != nil {
		return fmt.Errorf("gateway: catalogue command: %w", err)
	}
	kind := "delta"
	if full {
		kind = "full"
	}
	if p.Version != version {
		p = catalogPush{Version: version}
	}
	p.Attempts++
	p.Next = g.clk.Now().Add(catalogRetry.Wait(p.Attempts))
	if err := g.setCatalogPushState(ctx, m.Serial, &p); err != nil {
		return err
	}
	id := fmt.Sprintf("catalog-%d-%s-%s", version, kind, uuid.NewString()[:8])
	cmd, _ := json.Marshal(envelope.Command{ID: id, TS: g.clk.Now().UTC().Format(time.RFC3339), Body: body})
	return g.publish(ctx, envelope.CommandTopic(m.Serial, envelope.CmdCatalog), cmd)
}

// onReply takes a machine's command reply off paho's goroutine; it is
// acknowledged once recorded.
func (g *Gateway) onReply(m mqtt.Message) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := g.recordReply(ctx, m.Topic(), m.Payload()); err != nil {
			g.log.Warn("gateway: command reply", slog.String("topic", m.Topic()), slog.String("err", err.Error()))
			return // not acknowledged: the broker hands it out again
		}
		m.Ack()
	}()
}

// recordReply reads what a machine answered. Only catalogue replies carry
// state the gateway keeps: the version the machine now holds.
func (g *Gateway) recordReply(ctx context.Context, topic string, payload []byte) error {
	serial, ok := replySerial(topic)
	if !ok {
		return nil
	}
	var r envelope.Reply
	if err := json.Unmarshal(payload, &r); err != nil {
		g.log.Warn("gateway: malformed command reply", slog.String("machine", serial), slog.String("err", err.Error()))
		return nil
	}
	if r.Name != envelope.CmdCatalog {
		if !r.OK {
			g.log.Warn("gateway: machine refused a command", slog.String("machine", serial),
				slog.String("command", r.Name), slog.String("id", r.ID), slog.String("err", r.Error))
		}
		return nil
	}
	if !r.OK {
		g.log.Warn("gateway: machine refused the catalogue", slog.String("machine", serial), slog.String("id", r.ID), slog.String("err", r.Error))
		p, err := g.catalogPushState(ctx, serial)
		if err != nil || p.Version == 0 {
			return err
		}
		p.Error = r.Error
		return g.setCatalogPushState(ctx, serial, &p)
	}
	var res struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil || res.Version <= 0 {
		g.log.Warn("gateway: catalogue reply without a version", slog.String("machine", serial), slog.String("result", string(r.Result)))
		return nil
	}
	if err := g.st.MachineAcceptedCatalog(ctx, serial, res.Version); err != nil {
		return err
	}
	p, err := g.catalogPushState(ctx, serial)
	if err != nil {
		return err
	}
	if p.Version != 0 && p.Version <= res.Version {
		return g.setCatalogPushState(ctx, serial, nil)
	}
	return nil
}

// machineOnline brings a machine that just came online up to the current
// catalogue at once, back-off or not, off the consumer's path; when a push
// is already running the next periodic push covers it.
func (g *Gateway) machineOnline(serial string) {
	select {
	case g.pushSem <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-g.pushSem }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		version, err := g.st.CatalogVersion(ctx)
		if err != nil || version == 0 {
			return
		}
		m, err := g.st.Machine(ctx, serial, g.today())
		if err != nil || m.CatalogVersion >= version {
			return
		}
		p, err := g.catalogPushState(ctx, serial)
		if err != nil {
			return
		}
		if err := g.pushCatalogTo(ctx, m, version, p); err != nil {
			g.log.Warn("gateway: catalogue push", slog.String("machine", serial), slog.String("err", err.Error()))
		}
	}()
}
