package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// operatorProbeEvery bounds how often /healthz asks the operator: a load
// balancer polling health every second must not become the operator's
// busiest client.
const operatorProbeEvery = 10 * time.Second

// health is what /healthz reports: the broker's connection as paho last
// told it, and the operator's answer to a small catalogue read.
type health struct {
	mu         sync.Mutex
	broker     string    // "connecting", "connected" or "down: reason"; guarded by mu
	operator   string    // "ok" or "down: reason"; guarded by mu
	operatorAt time.Time // when operator was probed; guarded by mu
}

// Health is the body of GET /healthz.
type Health struct {
	OK       bool   `json:"ok"`
	Broker   string `json:"broker"`
	Operator string `json:"operator"`
}

// brokerNotice follows paho's connection notifications: each failed
// connect is logged with its reason (paho retries silently otherwise) and
// the broker's state kept for /healthz.
func (g *Gateway) brokerNotice(_ mqtt.Client, n mqtt.ConnectionNotification) {
	state := ""
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnected:
		state = "connected"
	case mqtt.ConnectionNotificationFailed:
		state = "down: " + n.Reason.Error()
		g.log.Warn("gateway: broker connect failed", slog.String("broker", g.o.MQTTURL), slog.String("err", n.Reason.Error()))
	case mqtt.ConnectionNotificationLost:
		state = "down: connection lost"
		if n.Reason != nil {
			state += ": " + n.Reason.Error()
		}
	default:
		return
	}
	g.health.mu.Lock()
	g.health.broker = state
	g.health.mu.Unlock()
}

// operatorState reads one product from the operator, at most every
// operatorProbeEvery, and says "ok" or why not.
func (g *Gateway) operatorState(ctx context.Context) string {
	h := &g.health
	h.mu.Lock()
	if h.operator != "" && g.clk.Now().Sub(h.operatorAt) < operatorProbeEvery {
		defer h.mu.Unlock()
		return h.operator
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	state := "ok"
	if _, err := g.fwdDRS.Products(ctx, 0, 1, time.Time{}); err != nil {
		state = "down: " + err.Error()
	}
	h.mu.Lock()
	h.operator, h.operatorAt = state, g.clk.Now()
	h.mu.Unlock()
	return state
}

// Health reports the broker's and the operator's state; OK only when the
// broker is connected and the operator answers.
func (g *Gateway) Health(ctx context.Context) Health {
	op := g.operatorState(ctx)
	g.health.mu.Lock()
	broker := g.health.broker
	g.health.mu.Unlock()
	if broker == "" {
		broker = "connecting"
	}
	return Health{OK: broker == "connected" && op == "ok", Broker: broker, Operator: op}
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	h := g.Health(r.Context())
	status := http.StatusOK
	if !h.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}
