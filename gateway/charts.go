package gateway

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/deposit-rvm/rvm/gateway/store"
)

// barChart draws one bar an hour as an inline SVG, on the server: the page
// needs no script and no network to show it. value picks what each hour
// shows; format prints a value for the bar's tooltip and the scale.
func barChart(testID, title string, hours []store.Hour, value func(store.Hour) float64, format func(float64) string) template.HTML {
	const w, h, left, bottom, top = 720.0, 180.0, 56.0, 22.0, 20.0
	peak := 0.0
	for _, hr := range hours {
		peak = max(peak, value(hr))
	}
	scale := peak
	if scale == 0 {
		scale = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg data-testid="%s" class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`,
		template.HTMLEscapeString(testID), w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="14" class="title">%s</text>`, left, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis" text-anchor="end">%s</text>`, left-6, top+8, template.HTMLEscapeString(format(peak)))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis" text-anchor="end">0</text>`, left-6, h-bottom)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="base"/>`, left, h-bottom, w, h-bottom)
	n := float64(max(len(hours), 1))
	slot := (w - left) / n
	for i, hr := range hours {
		v := value(hr)
		bh := (h - bottom - top) * v / scale
		x := left + float64(i)*slot
		fmt.Fprintf(&b, `<rect class="bar" data-value="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			template.HTMLEscapeString(format(v)), x+1, h-bottom-bh, slot-2, bh, hr.Start.Format("15:04"), template.HTMLEscapeString(format(v)))
		if i%4 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="axis">%s</text>`, x+1, h-6, hr.Start.Format("15h"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped parts only
}

// hourCharts draws containers and deposits per hour over the last 24.
func hourCharts(prefix string, hours []store.Hour) (containers, deposits template.HTML) {
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	pln := func(v float64) string { return fmt.Sprintf("%.2f PLN", v/100) }
	containers = barChart(prefix+"containers-chart", "Containers per hour (UTC)", hours, func(h store.Hour) float64 { return float64(h.Containers) }, count)
	deposits = barChart(prefix+"deposits-chart", "Deposits per hour (UTC)", hours, func(h store.Hour) float64 { return float64(h.Deposits) }, pln)
	return containers, deposits
}
