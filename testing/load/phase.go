package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// phase is one timed run of requests.
type phase struct {
	name, method, token string
	concurrency         int
	// count is the number of requests; worker w sends those i with
	// i % concurrency == w.
	count int
	// request returns the path and body of request i of worker w. It is
	// called inside the timed window: bodies made beforehand make it a
	// slice lookup.
	request func(w, i int) (path string, body []byte, err error)
	// check says whether a response is what this phase expects.
	check func(status int, r *loginResponse) error
	// rate, when > 0, paces the whole phase at rate requests/s (open loop:
	// a request's latency counts from when it was due, so a slow server
	// is not hidden by the generator waiting for it).
	rate    float64
	timeout time.Duration
	// perf, when set, records the phase (Config.PerfDir); logf reports a
	// recording that failed.
	perf *perfRecorder
	logf func(string, ...any)
}

// Result is one phase's figures.
type Result struct {
	Phase       string  `json:"phase"`
	Method      string  `json:"method"`
	TokenType   string  `json:"token_type,omitempty"`
	Concurrency int     `json:"concurrency"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	Errors      int     `json:"errors"`
	// NotSent counts requests the phase's timeout left unsent.
	NotSent     int            `json:"not_sent"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"per_second"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	Statuses    map[int]int    `json:"statuses"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	CPU         CPUPerThousand `json:"cpu_per_1000"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// CPUPerThousand is CPU seconds per 1,000 requests of a phase: Vault's,
// every plugin process's together (Plugin) and each one's by program name
// (Plugins), and the load generator's.
type CPUPerThousand struct {
	Vault   float64            `json:"vault_s"`
	Plugin  float64            `json:"plugin_s"`
	Plugins map[string]float64 `json:"plugins_s,omitempty"`
	Self    float64            `json:"load_generator_s"`
}

type workerOut struct {
	lat      []time.Duration
	ok, errs int
	notSent  int
	statuses map[int]int
	samples  []string
}

// run runs p and returns its result. vaultPID (0: unknown) is for CPU.
func (p *phase) run(ctx context.Context, h *httpClient, vaultPID int) Result {
	if p.timeout == 0 {
		p.timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	outs := make([]workerOut, p.concurrency)
	var interval time.Duration
	if p.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(p.concurrency) / p.rate)
	}
	stopPerf := p.perf.start(ctx, fmt.Sprintf("%s-%s-%s-c%d", p.name, p.method, p.token, p.concurrency), p.logf)
	cpu0 := cpuNow(vaultPID)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range p.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[w]
			o.statuses = map[int]int{}
			o.lat = make([]time.Duration, 0, p.count/p.concurrency+1)
			// Workers of a paced phase start spread over one interval.
			due := start.Add(interval * time.Duration(w) / time.Duration(p.concurrency))
			for i := w; i < p.count; i += p.concurrency {
				if ctx.Err() != nil {
					o.notSent++
					continue
				}
				t0 := time.Now()
				if interval > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					t0 = due
					due = due.Add(interval)
				}
				path, body, err := p.request(w, i)
				var status int
				var resp *loginResponse
				if err == nil {
					status, resp, err = h.post(ctx, path, body)
				}
				if err == nil {
					err = p.check(status, resp)
				}
				if ctx.Err() != nil && err != nil {
					// Cut off by the phase's timeout, not refused.
					o.notSent++
					continue
				}
				o.lat = append(o.lat, time.Since(t0))
				o.statuses[status]++
				if err != nil {
					o.errs++
					if len(o.samples) < 3 {
						o.samples = append(o.samples, err.Error())
					}
					continue
				}
				o.ok++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuNow(vaultPID).sub(cpu0)
	stopPerf()

	r := Result{
		Phase: p.name, Method: p.method, TokenType: p.token, Concurrency: p.concurrency,
		TargetRate: p.rate, Seconds: elapsed.Seconds(), Statuses: map[int]int{},
	}
	var lat []time.Duration
	for _, o := range outs {
		lat = append(lat, o.lat...)
		r.OK += o.ok
		r.Errors += o.errs
		r.NotSent += o.notSent
		for s, n := range o.statuses {
			r.Statuses[s] += n
		}
		for _, s := range o.samples {
			if len(r.ErrorSample) < 5 && !slices.Contains(r.ErrorSample, s) {
				r.ErrorSample = append(r.ErrorSample, s)
			}
		}
	}
	r.Requests = len(lat)
	if elapsed > 0 {
		r.PerSecond = float64(r.Requests) / elapsed.Seconds()
	}
	r.P50ms, r.P99ms = percentile(lat, 0.50), percentile(lat, 0.99)
	if r.Requests > 0 {
		per := 1000 / float64(r.Requests)
		r.CPU = CPUPerThousand{Vault: cpu.Vault.Seconds() * per, Plugin: cpu.Plugin().Seconds() * per, Self: cpu.Self.Seconds() * per, Plugins: map[string]float64{}}
		for name, d := range cpu.Plugins {
			r.CPU.Plugins[name] = d.Seconds() * per
		}
	}
	return r
}

// percentile is the q-quantile of lat in milliseconds (nearest rank).
func percentile(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
