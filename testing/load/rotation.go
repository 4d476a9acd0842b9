package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// RotationStats is what the background rotation worker did.
type RotationStats struct {
	TargetRate float64 `json:"target_rate"`
	Seconds    float64 `json:"seconds"`
	Rotations  int64   `json:"rotations"`
	PerSecond  float64 `json:"per_second"`
	Logins     int64   `json:"logins"`
	Errors     int64   `json:"errors"`
	// NotDue counts logins that were handed no new generation (the
	// client's rotation_period had not passed yet).
	NotDue int64 `json:"not_due"`
	// Missed counts ticks when every client was busy or the workers were
	// behind: the rate was not reached.
	Missed      int64    `json:"missed"`
	ErrorSample []string `json:"error_sample,omitempty"`
}

// rotator rotates a population of clients of a role with a short
// rotation_period at a steady rate: each tick takes the client that has
// waited longest, logs in with its current generation (handed the next one
// in the receipt) and logs in again proving it (which promotes it).
type rotator struct {
	h       *httpClient
	pool    chan *entropyClient
	rate    float64
	workers int

	rotations, logins, errs, notDue, missed atomic.Int64

	mu      sync.Mutex
	samples []string
}

func newRotator(h *httpClient, clients []*entropyClient, rate float64, workers int) *rotator {
	pool := make(chan *entropyClient, len(clients))
	for _, c := range clients {
		pool <- c
	}
	return &rotator{h: h, pool: pool, rate: rate, workers: max(1, workers)}
}

// run rotates until ctx is done and returns what it did.
func (r *rotator) run(ctx context.Context) RotationStats {
	jobs := make(chan *entropyClient, r.workers)
	var wg sync.WaitGroup
	for range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				r.rotate(ctx, c)
				r.pool <- c
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / r.rate))
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		select {
		case c := <-r.pool:
			select {
			case jobs <- c:
			default:
				r.pool <- c
				r.missed.Add(1)
			}
		default:
			r.missed.Add(1)
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	secs := time.Since(start).Seconds()
	st := RotationStats{
		TargetRate: r.rate, Seconds: secs, Rotations: r.rotations.Load(), Logins: r.logins.Load(),
		Errors: r.errs.Load(), NotDue: r.notDue.Load(), Missed: r.missed.Load(), ErrorSample: r.samples,
	}
	if secs > 0 {
		st.PerSecond = float64(st.Rotations) / secs
	}
	return st
}

// rotate does one rotation of c: two logins, unless the first is handed no
// new generation (not due yet) or promotes one left pending.
func (r *rotator) rotate(ctx context.Context, c *entropyClient) {
	for step := 0; step < 2; step++ {
		r.logins.Add(1)
		promoted, issued, err := c.loginFollow(ctx, r.h)
		if err != nil {
			if ctx.Err() != nil {
				// Cut off at the end of the run: not a refusal.
				r.logins.Add(-1)
				return
			}
			r.errs.Add(1)
			r.mu.Lock()
			if len(r.samples) < 3 {
				r.samples = append(r.samples, err.Error())
			}
			r.mu.Unlock()
			return
		}
		if promoted {
			r.rotations.Add(1)
			return
		}
		if !issued {
			r.notDue.Add(1)
			return
		}
	}
}
