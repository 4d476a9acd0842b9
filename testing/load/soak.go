package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// SoakResult is a soak at saturation: every sample, and whether anything
// failed or grew.
type SoakResult struct {
	// Hardware is also the run's (Results.Hardware) when the soak is run
	// on its own.
	Hardware    Hardware       `json:"-"`
	Seconds     float64        `json:"seconds"`
	Concurrency int            `json:"concurrency"`
	TokenType   string         `json:"token_type"`
	Logins      int64          `json:"logins"`
	Errors      int64          `json:"errors"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	PerSecond   float64        `json:"per_second"`
	Samples     []SoakSample   `json:"samples"`
	Rotation    *RotationStats `json:"rotation,omitempty"`
	// NonceKeysMax is the largest count of nonce/ keys seen in the
	// mount (-1 without sys/raw).
	NonceKeysMax int `json:"nonce_keys_max"`
}

// SoakSample is one look at the server during the soak.
type SoakSample struct {
	Elapsed   float64        `json:"elapsed_s"`
	Logins    int64          `json:"logins"`
	Errors    int64          `json:"errors"`
	PerSecond float64        `json:"per_second"`
	P50ms     float64        `json:"p50_ms"`
	P99ms     float64        `json:"p99_ms"`
	VaultRSS  int64          `json:"vault_rss_bytes"`
	RaftBytes int64          `json:"raft_bytes"`
	MountKeys map[string]int `json:"mount_keys,omitempty"`
}

// Soak logs in at saturation (cfg.SoakConcurrency workers, each its own
// client, closed loop) for cfg.Soak with proofs made as it goes (a
// ten-minute supply would be older than the server accepts), with the
// rotation worker in the background, and samples the server every
// cfg.SoakSample: logins, errors, latency, Vault's RSS, the raft data
// directory's size and, with sys/raw, the mount's keys by prefix.
func Soak(ctx context.Context, cfg Config, tgt *Target) (*SoakResult, error) {
	r, err := newRunner(ctx, cfg, tgt)
	if err != nil {
		return nil, err
	}
	c := max(1, cfg.SoakConcurrency)
	clients, err := r.ensureOwn(ctx, r.tgt.mount(), cfg.SoakTokenType, c)
	if err != nil {
		return nil, err
	}
	out := &SoakResult{Concurrency: c, TokenType: cfg.SoakTokenType, NonceKeysMax: -1, Hardware: hardware(ctx, r.vc, tgt.mount())}
	var rot *rotator
	if cfg.SoakRotationRate > 0 {
		n := max(10, int(cfg.SoakRotationRate*10))
		r.logf("soak: enrolling %d clients of role %s for rotation at %.0f/s", n, roleRotate, cfg.SoakRotationRate)
		pop, _, err := enroll(ctx, r.vc, "auth/"+tgt.mount(), roleRotate, n, cfg.EnrollConcurrency, func(int) bool { return true })
		if err != nil {
			return nil, err
		}
		rot = newRotator(r.h, pop, cfg.SoakRotationRate, max(2, cfg.RotationWorkers/2))
		time.Sleep(1500 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Soak)
	defer cancel()
	var (
		logins, errs atomic.Int64
		mu           sync.Mutex
		lat          []time.Duration
		samples      []string
		wg           sync.WaitGroup
	)
	rotDone := make(chan RotationStats, 1)
	if rot != nil {
		go func() { rotDone <- rot.run(ctx) }()
	}
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := clients[w]
			path := cl.loginPath()
			for ctx.Err() == nil {
				t0 := time.Now()
				body, _, _, err := cl.body()
				var status int
				var resp *loginResponse
				if err == nil {
					status, resp, err = r.h.post(ctx, path, body)
				}
				if err == nil {
					err = expectToken(status, resp)
				}
				if err != nil && ctx.Err() != nil {
					return // cut off at the end
				}
				d := time.Since(t0)
				logins.Add(1)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs.Add(1)
					if len(samples) < 5 {
						samples = append(samples, err.Error())
					}
				}
				mu.Unlock()
			}
		}()
	}
	sample := func() {
		mu.Lock()
		window := lat
		lat = nil
		mu.Unlock()
		s := SoakSample{
			Elapsed: time.Since(start).Seconds(), Logins: logins.Load(), Errors: errs.Load(),
			P50ms: percentile(window, 0.5), P99ms: percentile(window, 0.99),
			VaultRSS: rssBytes(r.pid), RaftBytes: dirSize(tgt.Dir + "/data"),
		}
		if n := len(out.Samples); n > 0 {
			prev := out.Samples[n-1]
			s.PerSecond = float64(s.Logins-prev.Logins) / (s.Elapsed - prev.Elapsed)
		} else if s.Elapsed > 0 {
			s.PerSecond = float64(s.Logins) / s.Elapsed
		}
		// A fresh context: the sample at the end runs after the soak's
		// own context has ended.
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		if keys, err := mountKeys(lctx, r.vc, "auth/"+tgt.mount()); err == nil {
			s.MountKeys = keys
			out.NonceKeysMax = max(out.NonceKeysMax, keys["nonce"])
		}
		lcancel()
		out.Samples = append(out.Samples, s)
		r.logf("soak %5.0fs: %d logins (%.0f/s) errors %d p50 %.2f ms p99 %.2f ms vault RSS %d MiB raft %d MiB mount keys %v",
			s.Elapsed, s.Logins, s.PerSecond, s.Errors, s.P50ms, s.P99ms, s.VaultRSS>>20, s.RaftBytes>>20, s.MountKeys)
	}
	tick := time.NewTicker(cfg.SoakSample)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			sample()
		}
	}
	tick.Stop()
	wg.Wait()
	// A last sample for the logins since the last tick, unless the tick
	// has just taken it.
	if n := len(out.Samples); n == 0 || time.Since(start).Seconds()-out.Samples[n-1].Elapsed > 1 {
		sample()
	}
	if rot != nil {
		st := <-rotDone
		out.Rotation = &st
	}
	out.Seconds = time.Since(start).Seconds()
	out.Logins, out.Errors, out.ErrorSample = logins.Load(), errs.Load(), samples
	out.PerSecond = ratio(float64(out.Logins), out.Seconds)
	return out, nil
}
