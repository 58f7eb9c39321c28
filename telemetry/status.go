package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/deposit-rvm/rvm/telemetry/envelope"
	"github.com/deposit-rvm/rvm/telemetry/outbox"
)

// status is the machine's status with the publisher's part filled in.
func (p *Publisher) status(ctx context.Context, online bool) (envelope.Status, error) {
	var st envelope.Status
	if p.opts.StatusFunc != nil {
		st = p.opts.StatusFunc()
	}
	st.Online = online
	st.Machine = p.opts.Serial
	if st.Firmware == "" {
		st.Firmware = p.opts.Firmware
	}
	rows, bytes, err := outbox.Depth(ctx, p.db)
	if err != nil {
		return st, fmt.Errorf("telemetry: status: %w", err)
	}
	st.OutboxDepth, st.OutboxBytes = rows, bytes
	conf, err := outbox.Confirmations(ctx, p.db)
	if err != nil {
		return st, fmt.Errorf("telemetry: status: %w", err)
	}
	st.OutboxUnconfirmed = conf.Unconfirmed
	st.TS = p.opts.Clock.Now().UTC().Format(time.RFC3339)
	return st, nil
}

func (p *Publisher) statusPayload(ctx context.Context, online bool) ([]byte, error) {
	st, err := p.status(ctx, online)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("telemetry: status: %w", err)
	}
	return b, nil
}

// statusLoop publishes the retained status once the command subscription
// is in place (so "online" means the machine hears commands) and after
// every StatusChanged, until the connection ends. It does not wait for
// PUBACKs: a status lost with its connection is published again on the
// next.
func (p *Publisher) statusLoop(ctx context.Context, c mqtt.Client, ready <-chan struct{}) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	for {
		payload, err := p.statusPayload(ctx, true)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Error("telemetry: status", "err", err)
		} else {
			c.Publish(envelope.StatusTopic(p.opts.Serial), 1, true, payload)
		}
		select {
		case <-p.statusCh:
		case <-ctx.Done():
			return
		}
	}
}

// Heartbeat appends a heartbeat event with HeartbeatFunc's health to the
// outbox now, connected or not. Run appends one every HeartbeatInterval
// (see heartbeat); tests call this directly.
func (p *Publisher) Heartbeat(ctx context.Context) error {
	if p.opts.HeartbeatFunc == nil {
		return fmt.Errorf("%w: no HeartbeatFunc", ErrConfig)
	}
	return p.appendHeartbeat(ctx, p.opts.HeartbeatFunc())
}

// heartbeat is Run's periodic heartbeat. While the broker is away it
// appends only news: a heartbeat whose health (uptime aside) differs from
// the last one appended. An hour offline would otherwise queue 60
// heartbeats that all say the same, ahead of the events that matter, in
// every machine of a fleet that lost its broker; the changes still tell
// the fleet afterwards how the machine fared.
func (p *Publisher) heartbeat(ctx context.Context) error {
	h := p.opts.HeartbeatFunc()
	p.mu.Lock()
	repeat := !p.connected && p.lastBeat != nil && sameHealth(*p.lastBeat, h)
	p.mu.Unlock()
	if repeat {
		return nil
	}
	return p.appendHeartbeat(ctx, h)
}

// sameHealth reports whether two heartbeats say the same but for uptime.
func sameHealth(a, b envelope.Heartbeat) bool {
	a.Uptime, b.Uptime = 0, 0
	return a == b
}

func (p *Publisher) appendHeartbeat(ctx context.Context, h envelope.Heartbeat) error {
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("telemetry: heartbeat: %w", err)
	}
	var rvmID string
	if p.opts.StatusFunc != nil {
		rvmID = p.opts.StatusFunc().RvmID
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("telemetry: heartbeat: %w", err)
	}
	defer tx.Rollback()
	_, err = outbox.Append(ctx, tx, outbox.Record{
		ID:    uuid.NewString(),
		Kind:  envelope.KindHeartbeat,
		TS:    p.opts.Clock.Now(),
		RvmID: rvmID,
		Body:  body,
	})
	if err != nil {
		return fmt.Errorf("telemetry: heartbeat: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("telemetry: heartbeat: %w", err)
	}
	p.mu.Lock()
	p.lastBeat = &h
	p.mu.Unlock()
	p.Notify()
	// The status carries the outbox depth; a heartbeat is a good moment
	// to refresh it.
	p.StatusChanged()
	return nil
}

func (p *Publisher) heartbeats(ctx context.Context) {
	t := p.opts.Clock.NewTicker(p.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			if err := p.heartbeat(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("telemetry: heartbeat", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}
