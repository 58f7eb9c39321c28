package gateway

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/deposit-rvm/rvm/drs/drsapi"
	"github.com/deposit-rvm/rvm/gateway/store"
	"github.com/deposit-rvm/rvm/telemetry/envelope"
)

//go:embed web/dashboard.html web/machine.html web/live.js web/fleet.css
var webFS embed.FS

var pageFuncs = template.FuncMap{"pct": func(f float64) float64 { return f * 100 }}

var (
	dashboardTmpl = template.Must(template.New("dashboard.html").Funcs(pageFuncs).ParseFS(webFS, "web/dashboard.html"))
	machineTmpl   = template.Must(template.New("machine.html").Funcs(pageFuncs).ParseFS(webFS, "web/machine.html"))
)

// chartHours is how many hours the charts show.
const chartHours = 24

// dashboard renders the fleet and the failure report on the server, with
// the fleet's containers and deposits per hour as SVG; live.js keeps the
// table current.
func (g *Gateway) dashboard(w http.ResponseWriter, r *http.Request) {
	ms, err := g.machines(r)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	fs, err := g.st.Failures(r.Context(), false)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	hours, err := g.st.Hours(r.Context(), "", g.clk.Now(), chartHours)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	online := 0
	for _, m := range ms {
		if m.Online {
			online++
		}
	}
	cc, dc := hourCharts("fleet-", hours)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = dashboardTmpl.Execute(w, struct {
		Machines                       []MachineView
		Failures                       []store.Failure
		Online                         int
		Now                            string
		ContainersChart, DepositsChart template.HTML
	}{ms, fs, online, g.clk.Now().UTC().Format(time.RFC3339), cc, dc})
}

// asset serves one of the pages' embedded files.
func asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := webFS.ReadFile("web/" + name) // embedded: cannot fail
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	}
}

// mixRow is one rejection cause of a machine.
type mixRow struct {
	Cause string
	N     int64
	Pct   float64
}

// faultRow is one fault event of a machine.
type faultRow struct {
	At      string
	Fault   string
	Latched bool
	By      string
}

// machinePage renders one machine: its summary (live), its containers and
// deposits per hour, its bags with their reconciliation, its rejection mix,
// its state history and its faults.
func (g *Gateway) machinePage(w http.ResponseWriter, r *http.Request) {
	serial, ok := g.pathID(w, r, "serial", drsapi.MaxSerialLen, false)
	if !ok {
		return
	}
	ctx := r.Context()
	m, err := g.st.Machine(ctx, serial, g.today())
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no machine "+serial, http.StatusNotFound)
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	vs := []MachineView{view(m, false)}
	if err := g.withSignals(ctx, vs, true); err != nil {
		g.internal(w, r, err)
		return
	}
	v := vs[0]
	now := g.clk.Now()
	hours, err := g.st.Hours(ctx, m.Serial, now, chartHours)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	states, err := g.st.States(ctx, m.Serial, 50)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	fevs, err := g.st.MachineEvents(ctx, m.Serial, envelope.KindFault, now.Add(-bagWindow), 200)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	var faults []faultRow
	for _, e := range fevs {
		var f envelope.FaultEvent
		if json.Unmarshal(e.Body, &f) == nil {
			faults = append(faults, faultRow{At: e.TS, Fault: f.Fault, Latched: f.Latched, By: f.By})
		}
	}
	var mix []mixRow
	if v.Fraud != nil {
		for cause, n := range v.Fraud.RejectionMix {
			row := mixRow{Cause: cause, N: n}
			if v.Fraud.Containers > 0 {
				row.Pct = 100 * float64(n) / float64(v.Fraud.Containers)
			}
			mix = append(mix, row)
		}
	}
	sort.Slice(mix, func(i, j int) bool {
		a, _ := strconv.Atoi(mix[i].Cause)
		b, _ := strconv.Atoi(mix[j].Cause)
		return a < b
	})
	cc, dc := hourCharts("machine-", hours)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = machineTmpl.Execute(w, struct {
		M                              MachineView
		States                         []store.State
		Faults                         []faultRow
		Mix                            []mixRow
		ContainersChart, DepositsChart template.HTML
	}{v, states, faults, mix, cc, dc})
}
