package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

// Bag reconciliation: a bag's measured weight (its bag-replacement report)
// beside the catalogue weights (weight.withCap) of the containers credited
// into it. A bag further off than BagTolerancePct of the theoretical weight,
// and at least BagToleranceG, is flagged: a container missing from a bag
// weighs less than a tenth of an empty bag's worth of scale noise only in a
// full bag, so the fixed floor keeps the scale's noise out of the flags.
const (
	BagTolerancePct = 3.0
	BagToleranceG   = 20.0
)

// BagCheck is one bag exchange's reconciliation.
type BagCheck struct {
	BagID        string   `json:"bagId"`
	ReplacedAt   string   `json:"replacedAt"`
	Containers   int      `json:"containers"`
	TheoreticalG float64  `json:"theoreticalG"`
	MeasuredG    float64  `json:"measuredG"`
	DiffG        float64  `json:"diffG"`
	Flagged      bool     `json:"flagged"`
	Reason       string   `json:"reason,omitempty"`
	UnknownEANs  []string `json:"unknownEans,omitempty"`
}

// reconcile checks one bag-replacement body against the catalogue weights.
func reconcile(br drsapi.BagReplacement, weights map[string]float64) BagCheck {
	c := BagCheck{BagID: br.BagID, ReplacedAt: br.ReplacementDate, MeasuredG: math.Round(br.BagWeight * 1000)}
	for _, row := range br.Containers {
		c.Containers += row.Count
		w, ok := weights[row.EAN]
		if !ok {
			c.UnknownEANs = append(c.UnknownEANs, row.EAN)
			continue
		}
		c.TheoreticalG += w * float64(row.Count)
	}
	c.TheoreticalG = math.Round(c.TheoreticalG)
	c.DiffG = c.MeasuredG - c.TheoreticalG
	tol := max(BagToleranceG, c.TheoreticalG*BagTolerancePct/100)
	switch {
	case len(c.UnknownEANs) > 0:
		c.Reason = "no catalogue weight for " + strings.Join(c.UnknownEANs, ", ")
	case math.Abs(c.DiffG) > tol:
		c.Flagged = true
		what := "lighter"
		if c.DiffG > 0 {
			what = "heavier"
		}
		c.Reason = fmt.Sprintf("bag %.0f g %s than its %d containers' catalogue weight %.0f g (tolerance %.0f g)",
			math.Abs(c.DiffG), what, c.Containers, c.TheoreticalG, tol)
	}
	return c
}

// catalogWeights maps each catalogue EAN to its weight with cap, grams.
func (g *Gateway) catalogWeights(ctx context.Context) (map[string]float64, error) {
	ps, _, err := g.st.ProductsSince(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(ps))
	for _, p := range ps {
		var prod drsapi.Product
		if json.Unmarshal(p.Body, &prod) == nil && prod.Weight.WithCap != nil {
			out[p.EAN] = *prod.Weight.WithCap
		}
	}
	return out, nil
}

// bagChecks reconciles the bag exchanges of machine (every machine's when
// "") reported since since, oldest first.
func (g *Gateway) bagChecks(ctx context.Context, machine string, since time.Time) (map[string][]BagCheck, error) {
	evs, err := g.st.MachineEvents(ctx, machine, envelope.KindBagReplacement, since, 100000)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, nil
	}
	weights, err := g.catalogWeights(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]BagCheck{}
	for _, e := range evs {
		var br drsapi.BagReplacement
		if err := json.Unmarshal(e.Body, &br); err != nil {
			continue // the consumer stored it; a body it cannot read is not a bag
		}
		out[e.Machine] = append(out[e.Machine], reconcile(br, weights))
	}
	return out, nil
}

// Fraud signals: a machine's fraud rejections (cause 1: a container pulled
// back, a label on the wrong container, metal disagreeing with the
// packaging), blocked transactions and rejection mix beside the rest of the
// fleet's. A machine needs FraudMinContainers before it is judged.
const (
	FraudMinContainers = 20
	fraudFactor        = 5.0  // times the rest of the fleet's rate...
	fraudMargin        = 0.02 // ...and this far above it
	mixDistanceLimit   = 0.4  // total variation distance of the rejection mix
)

// FraudSignals is what the fleet learns of one machine's honesty.
type FraudSignals struct {
	Containers       int64            `json:"containers"`
	FraudRejections  int64            `json:"fraudRejections"`
	FraudRate        float64          `json:"fraudRate"`
	FleetFraudRate   float64          `json:"fleetFraudRate"`
	Transactions     int64            `json:"transactions"`
	Blocked          int64            `json:"blocked"`
	BlockedRate      float64          `json:"blockedRate"`
	FleetBlockedRate float64          `json:"fleetBlockedRate"`
	RejectionMix     map[string]int64 `json:"rejectionMix"` // cause code -> containers
	MixDistance      float64          `json:"mixDistance"`
	Flagged          bool             `json:"flagged"`
	Reasons          []string         `json:"reasons,omitempty"`
}

// fraudSignals judges every machine of sigs against the rest of the fleet.
func fraudSignals(sigs map[string]map[string]int64) map[string]FraudSignals {
	type tot struct{ containers, fraud, tx, blocked, rejected int64 }
	count := func(m map[string]int64) (t tot, mix map[string]int64) {
		mix = map[string]int64{}
		for k, n := range m {
			cause, ok := strings.CutPrefix(k, store.SignalCause)
			switch {
			case ok:
				t.containers += n
				if cause != "0" {
					t.rejected += n
					mix[cause] += n
				}
				if cause == strconv.Itoa(drsapi.CauseFraud) {
					t.fraud += n
				}
			case k == store.SignalTransactions:
				t.tx += n
			case k == store.SignalBlocked:
				t.blocked += n
			}
		}
		return t, mix
	}
	var fleet tot
	fleetMix := map[string]int64{}
	per := map[string]tot{}
	mixes := map[string]map[string]int64{}
	for m, s := range sigs {
		t, mix := count(s)
		per[m], mixes[m] = t, mix
		fleet.containers += t.containers
		fleet.fraud += t.fraud
		fleet.tx += t.tx
		fleet.blocked += t.blocked
		fleet.rejected += t.rejected
		for c, n := range mix {
			fleetMix[c] += n
		}
	}
	rate := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	out := make(map[string]FraudSignals, len(sigs))
	for m, t := range per {
		// The rest of the fleet: the machine judged is not its own yardstick.
		rest := tot{fleet.containers - t.containers, fleet.fraud - t.fraud, fleet.tx - t.tx, fleet.blocked - t.blocked, fleet.rejected - t.rejected}
		f := FraudSignals{
			Containers: t.containers, FraudRejections: t.fraud, FraudRate: rate(t.fraud, t.containers),
			FleetFraudRate: rate(rest.fraud, rest.containers), Transactions: t.tx, Blocked: t.blocked,
			BlockedRate: rate(t.blocked, t.tx), FleetBlockedRate: rate(rest.blocked, rest.tx), RejectionMix: mixes[m],
		}
		if t.containers >= FraudMinContainers && rest.containers > 0 {
			if f.FraudRate > fraudFactor*f.FleetFraudRate && f.FraudRate > f.FleetFraudRate+fraudMargin {
				f.Reasons = append(f.Reasons, fmt.Sprintf("fraud rejections (pull-backs, labels on the wrong container) %.1f%% of containers, the fleet's %.1f%%",
					100*f.FraudRate, 100*f.FleetFraudRate))
			}
			if t.blocked >= 2 && f.BlockedRate > fraudFactor*f.FleetBlockedRate && f.BlockedRate > f.FleetBlockedRate+fraudMargin {
				f.Reasons = append(f.Reasons, fmt.Sprintf("blocked transactions %.1f%%, the fleet's %.1f%%", 100*f.BlockedRate, 100*f.FleetBlockedRate))
			}
			restMix := map[string]int64{}
			for c, n := range fleetMix {
				restMix[c] = n - mixes[m][c]
			}
			if t.rejected >= FraudMinContainers && rest.rejected > 0 {
				f.MixDistance = mixDistance(mixes[m], t.rejected, restMix, rest.rejected)
				if f.MixDistance > mixDistanceLimit {
					f.Reasons = append(f.Reasons, fmt.Sprintf("rejection mix unlike the fleet's (distance %.2f; mostly cause %s)", f.MixDistance, topCause(mixes[m])))
				}
			}
		}
		f.Flagged = len(f.Reasons) > 0
		out[m] = f
	}
	return out
}

// mixDistance is the total variation distance of two rejection mixes.
func mixDistance(a map[string]int64, na int64, b map[string]int64, nb int64) float64 {
	causes := map[string]bool{}
	for c := range a {
		causes[c] = true
	}
	for c := range b {
		causes[c] = true
	}
	d := 0.0
	for c := range causes {
		d += math.Abs(float64(a[c])/float64(na) - float64(b[c])/float64(nb))
	}
	return math.Round(d/2*1000) / 1000
}

func topCause(mix map[string]int64) string {
	keys := make([]string, 0, len(mix))
	for c := range mix {
		keys = append(keys, c)
	}
	sort.Slice(keys, func(i, j int) bool {
		return mix[keys[i]] > mix[keys[j]] || mix[keys[i]] == mix[keys[j]] && keys[i] < keys[j]
	})
	if len(keys) == 0 {
		return "-"
	}
	return keys[0]
}

// states remembers each machine's last recorded state, so that only
// changes are written to its history.
type states struct {
	mu   sync.Mutex
	last map[string]store.State // guarded by mu
}

// noteStates records the changes the statuses of a stored batch bring to
// the machines' state histories. A failure costs a history row, never an
// event: it is logged.
func (g *Gateway) noteStates(ctx context.Context, sts []store.StatusUpdate) {
	changed := map[string][]store.State{}
	g.hist.mu.Lock()
	if g.hist.last == nil {
		g.hist.last = map[string]store.State{}
	}
	for _, u := range sts {
		var s envelope.Status
		_ = json.Unmarshal(u.Raw, &s)
		st := store.State{At: u.At, Online: u.Online, State: s.State, Fault: u.Fault}
		if old, ok := g.hist.last[u.Serial]; ok && old.Online == st.Online && old.State == st.State && old.Fault == st.Fault {
			continue
		}
		g.hist.last[u.Serial] = st
		changed[u.Serial] = append(changed[u.Serial], st)
	}
	g.hist.mu.Unlock()
	if err := g.st.AddStates(ctx, changed); err != nil {
		g.log.Warn("gateway: state history", "machines", len(changed), "err", err.Error())
	}
}

// bagWindow is how far back the fleet view and the alert metric look at
// bag exchanges.
const bagWindow = 7 * 24 * time.Hour

// learnEvery bounds how often the fleet's signals are computed again: the
// fleet view and /metrics read a copy at most this old.
const learnEvery = 5 * time.Second

// learned is the fleet's signals as last computed.
type learned struct {
	mu    sync.Mutex
	at    time.Time               // guarded by mu
	fraud map[string]FraudSignals // guarded by mu
	bags  map[string][]BagCheck   // guarded by mu
}

// learn returns the fleet's fraud signals and bag checks, computed again
// when older than learnEvery.
func (g *Gateway) learn(ctx context.Context) (map[string]FraudSignals, map[string][]BagCheck, error) {
	l := &g.learned
	l.mu.Lock()
	defer l.mu.Unlock()
	now := g.clk.Now()
	if !l.at.IsZero() && now.Sub(l.at) < learnEvery && now.After(l.at) {
		return l.fraud, l.bags, nil
	}
	sigs, err := g.st.Signals(ctx)
	if err != nil {
		return nil, nil, err
	}
	bags, err := g.bagChecks(ctx, "", now.Add(-bagWindow))
	if err != nil {
		return nil, nil, err
	}
	l.at, l.fraud, l.bags = now, fraudSignals(sigs), bags
	return l.fraud, l.bags, nil
}

// flagBags counts the flagged checks.
func flagBags(cs []BagCheck) int {
	n := 0
	for _, c := range cs {
		if c.Flagged {
			n++
		}
	}
	return n
}

// withSignals adds what the fleet learned to machine views: the flags, and
// with detail the signals and bag checks themselves.
func (g *Gateway) withSignals(ctx context.Context, vs []MachineView, detail bool) error {
	fraud, bags, err := g.learn(ctx)
	if err != nil {
		return err
	}
	for i := range vs {
		v := &vs[i]
		f := fraud[v.Serial]
		v.FraudFlagged, v.BagsFlagged = f.Flagged, flagBags(bags[v.Serial])
		v.Flags = append([]string(nil), f.Reasons...)
		for _, c := range bags[v.Serial] {
			if c.Flagged {
				v.Flags = append(v.Flags, c.Reason)
			}
		}
		if detail {
			v.Fraud, v.Bags = &f, bags[v.Serial]
			if v.Bags == nil {
				v.Bags = []BagCheck{}
			}
		}
	}
	return nil
}
