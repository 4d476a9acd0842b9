package load

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
)

// series is one line of the plot.
type series struct {
	label, color string
	dashed       bool
	points       [][2]float64 // concurrency, logins/s
}

// WriteSVG plots logins/s against concurrency (log2 axis) for each method
// and token type of the sweep: a hand-written SVG with no dependency.
func (res *Results) WriteSVG(w io.Writer) error {
	methods := []struct{ method, label, color string }{
		{"entropy", "entropy", "#1f77b4"},
		{"floor", "floor plugin (returns at once)", "#7f7f7f"},
		{"approle-reused", "AppRole, secret_id reused", "#d62728"},
		{"approle-single-use", "AppRole, single-use secret_id", "#2ca02c"},
	}
	var all []series
	for _, m := range methods {
		for _, token := range tokenTypes {
			s := series{label: m.label + ", " + token + " tokens", color: m.color, dashed: token == "batch"}
			for _, r := range res.Sweep {
				if r.Method == m.method && r.TokenType == token {
					s.points = append(s.points, [2]float64{float64(r.Concurrency), r.PerSecond})
				}
			}
			if len(s.points) > 0 {
				all = append(all, s)
			}
		}
	}
	const (
		width, height          = 900.0, 460.0
		left, right, top, bott = 70.0, 330.0, 40.0, 50.0
	)
	pw, ph := width-left-right, height-top-bott
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range all {
		for _, p := range s.points {
			xmin, xmax, ymax = min(xmin, p[0]), max(xmax, p[0]), max(ymax, p[1])
		}
	}
	if len(all) == 0 {
		xmin, xmax, ymax = 1, 2, 1
	}
	if xmax == xmin {
		xmax = xmin * 2
	}
	ymax = niceCeil(ymax)
	lx := func(c float64) float64 {
		return left + pw*(math.Log2(c)-math.Log2(xmin))/(math.Log2(xmax)-math.Log2(xmin))
	}
	ly := func(v float64) float64 { return top + ph*(1-v/ymax) }

	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`, width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	h := res.Hardware
	p(`<text x="%.0f" y="20" font-size="14">Logins/s against concurrency: Vault %s, single-node raft, %d cores</text>`, left, esc(h.Vault), h.Cores)
	// Axes and grid.
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		y := ly(v)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, left, y, left+pw, y)
		p(`<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`, left-6, y+4, v)
	}
	var xs []float64
	for _, s := range all {
		for _, pt := range s.points {
			if !slices.Contains(xs, pt[0]) {
				xs = append(xs, pt[0])
			}
		}
	}
	for _, c := range xs {
		x := lx(c)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, top, x, top+ph)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, x, top+ph+16, c)
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`, left, top+ph, left+pw, top+ph)
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`, left, top, left, top+ph)
	p(`<text x="%.1f" y="%.1f" text-anchor="middle">concurrent clients</text>`, left+pw/2, height-12)
	p(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">logins/s</text>`, top+ph/2)
	for i, s := range all {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts string
		for _, pt := range s.points {
			pts += fmt.Sprintf("%.1f,%.1f ", lx(pt[0]), ly(pt[1]))
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.color, dash, pts)
		for _, pt := range s.points {
			p(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, lx(pt[0]), ly(pt[1]), s.color)
		}
		y := top + 10 + float64(i)*20
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, left+pw+15, y, left+pw+45, y, s.color, dash)
		p(`<text x="%.1f" y="%.1f">%s</text>`, left+pw+50, y+4, esc(s.label))
	}
	p(`</svg>`)
	return nil
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func esc(s string) string { return html.EscapeString(s) }
