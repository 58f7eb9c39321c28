package gateway

import (
	"embed"
	"html/template"
	"net/http"
	"time"

	"github.com/deposit-rvm/rvm/gateway/store"
)

//go:embed web/dashboard.html
var webFS embed.FS

var dashboardTmpl = template.Must(template.New("dashboard.html").Funcs(template.FuncMap{
	"pct": func(f float64) float64 { return f * 100 },
}).ParseFS(webFS, "web/dashboard.html"))

// dashboard renders the fleet and the failure report on the server: no
// script, no build step, and it refreshes itself.
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
	online := 0
	for _, m := range ms {
		if m.Online {
			online++
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = dashboardTmpl.Execute(w, struct {
		Machines []MachineView
		Failures []store.Failure
		Online   int
		Now      string
	}{ms, fs, online, g.clk.Now().UTC().Format(time.RFC3339)})
}
