package load

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/vault/api"
)

// Results is everything one run measured.
type Results struct {
	Started  time.Time       `json:"started"`
	Hardware Hardware        `json:"hardware"`
	Config   json.RawMessage `json:"config"`
	// ProofsMade says where entropy proofs were made: "before each timed
	// phase" or "inside the timed window".
	ProofsMade string          `json:"proofs_made"`
	Sweep      []Result        `json:"sweep"`
	Ratios     []Ratio         `json:"ratios"`
	Rotation   *RotationResult `json:"rotation,omitempty"`
	// BaselineRotation is the same rotation comparison against the
	// baseline build (-baseline-plugin), and RotationSpeedup the current
	// build's rotations/s over the baseline's.
	BaselineRotation *RotationResult `json:"baseline_rotation,omitempty"`
	RotationSpeedup  float64         `json:"rotation_speedup,omitempty"`
	Garbage          *GarbageResult  `json:"garbage,omitempty"`
	Scale            *ScaleResult    `json:"scale,omitempty"`
	Soak             *SoakResult     `json:"soak,omitempty"`
}

// Ratio is entropy logins/s over AppRole's and over the floor plugin's at
// one concurrency and token type, and entropy's CPU per login (Vault and
// plugin) over the floor's (issue targets: >= 1.0 against single-use
// secret_ids; >= 0.8 batch and >= 0.9 service against the floor; CPU <=
// 1.25 the floor's).
type Ratio struct {
	Concurrency int     `json:"concurrency"`
	TokenType   string  `json:"token_type"`
	VsReused    float64 `json:"vs_approle_reused"`
	VsSingleUse float64 `json:"vs_approle_single_use"`
	VsFloor     float64 `json:"vs_floor,omitempty"`
	CPUVsFloor  float64 `json:"cpu_vs_floor,omitempty"`
}

// RotationResult compares the same paced login load without and with
// background rotation (target: p99 ratio <= 1.5).
type RotationResult struct {
	Mount        string        `json:"mount"`
	TokenType    string        `json:"token_type"` // of the rotated clients' role
	Baseline     Result        `json:"baseline"`
	WithRotation Result        `json:"with_rotation"`
	Rotation     RotationStats `json:"rotation"`
	P99Ratio     float64       `json:"p99_ratio"`
}

// ScaleResult is the same login load with a small and a large population
// of enrolled clients (target: large within 1.1x of small per login).
type ScaleResult struct {
	Small           int     `json:"small"`
	Large           int     `json:"large"`
	EnrollSmallSecs float64 `json:"enroll_small_seconds"`
	EnrollLargeSecs float64 `json:"enroll_rest_seconds"`
	EnrollPerSecond float64 `json:"enrollments_per_second"`
	SmallResult     Result  `json:"small_result"`
	LargeResult     Result  `json:"large_result"`
	PerSecondRatio  float64 `json:"per_second_ratio_small_over_large"`
	P50Ratio        float64 `json:"p50_ratio_large_over_small"`
	P99Ratio        float64 `json:"p99_ratio_large_over_small"`
	RaftBytesSmall  int64   `json:"raft_bytes_small"`
	RaftBytesLarge  int64   `json:"raft_bytes_large"`
	VaultRSSLarge   int64   `json:"vault_rss_bytes_large"`
}

// runner holds what every step of a run shares.
type runner struct {
	cfg Config
	tgt *Target
	vc  *api.Client
	h   *httpClient
	pid int
	// perf records each phase when Config.PerfDir is set (nil: not).
	perf *perfRecorder
	// own[mount+" "+token] are clients of the entropy role of that token
	// type on that mount, one per worker.
	own map[string][]*entropyClient
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

func newRunner(ctx context.Context, cfg Config, tgt *Target) (*runner, error) {
	vc, err := tgt.api()
	if err != nil {
		return nil, err
	}
	pid, err := tgt.VaultPID()
	if err != nil {
		pid = 0 // CPU and RSS figures stay zero
	}
	conns := slices.Max(append(slices.Clone(cfg.Sweep), cfg.SoakConcurrency, cfg.GarbageConcurrency, cfg.RotationConcurrency+cfg.RotationWorkers, cfg.ScaleConcurrency, 1))
	r := &runner{cfg: cfg, tgt: tgt, vc: vc, h: newHTTPClient(tgt.Addr, conns), pid: pid, own: map[string][]*entropyClient{}}
	if cfg.PerfDir != "" {
		if err := os.MkdirAll(cfg.PerfDir, 0o755); err != nil {
			return nil, err
		}
		r.perf = &perfRecorder{dir: cfg.PerfDir, vaultPID: pid}
	}
	for _, m := range []string{tgt.mount(), tgt.Baseline} {
		if m == "" {
			continue
		}
		if cfg.KeySuite != "" {
			if _, err := vc.Logical().WriteWithContext(ctx, "auth/"+m+"/config", map[string]interface{}{"key_suite": cfg.KeySuite}); err != nil {
				return nil, fmt.Errorf("setting key_suite on auth/%s: %w", m, err)
			}
		}
		if err := setup(ctx, vc, "auth/"+m, cfg.TokenTTL, cfg.RotationTokenType); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ensureOwn enrolls clients of the entropy role of token on mount until
// there are n.
func (r *runner) ensureOwn(ctx context.Context, mount, token string, n int) ([]*entropyClient, error) {
	key := mount + " " + token
	if have := len(r.own[key]); have < n {
		more, _, err := enroll(ctx, r.vc, "auth/"+mount, entropyRole(token), n-have, r.cfg.EnrollConcurrency, func(int) bool { return true })
		if err != nil {
			return nil, err
		}
		r.own[key] = append(r.own[key], more...)
	}
	return r.own[key][:n], nil
}

// entropyRequests returns the request function of count logins spread over
// clients by pick(i): proofs made now, or in the window with InlineProofs.
func (r *runner) entropyRequests(clients []*entropyClient, count int, pick func(i int) int) (func(w, i int) (string, []byte, error), error) {
	path := clients[0].loginPath()
	if r.cfg.InlineProofs {
		return func(_, i int) (string, []byte, error) {
			b, _, _, err := clients[pick(i)].body()
			return path, b, err
		}, nil
	}
	bodies := make([][]byte, count)
	for i := range bodies {
		b, _, _, err := clients[pick(i)].body()
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	return func(_, i int) (string, []byte, error) { return path, bodies[i], nil }, nil
}

func bodiesRequest(path string, bodies [][]byte, pick func(i int) int) func(w, i int) (string, []byte, error) {
	return func(_, i int) (string, []byte, error) { return path, bodies[pick(i)], nil }
}

// Run runs the sweep, the rotation comparison, the garbage flood and the
// population comparison against tgt, in that order (the large population
// last, as it stays in storage).
func Run(ctx context.Context, cfg Config, tgt *Target) (*Results, error) {
	r, err := newRunner(ctx, cfg, tgt)
	if err != nil {
		return nil, err
	}
	res := &Results{Started: time.Now().UTC(), Hardware: hardware(ctx, r.vc, tgt.mount()), ProofsMade: "before each timed phase"}
	if cfg.InlineProofs {
		res.ProofsMade = "inside the timed window"
	}
	res.Config, _ = json.Marshal(cfg)
	r.logf("hardware: %s, %d cores, %s, Vault %s, plugin %s", res.Hardware.CPUModel, res.Hardware.Cores, res.Hardware.Go, res.Hardware.Vault, res.Hardware.PluginVersion)

	if err := r.sweep(ctx, res); err != nil {
		return res, err
	}
	if cfg.RotationRate > 0 {
		if res.Rotation, err = r.rotation(ctx, res, tgt.mount()); err != nil {
			return res, err
		}
		if tgt.Baseline != "" {
			if res.BaselineRotation, err = r.rotation(ctx, res, tgt.Baseline); err != nil {
				return res, err
			}
			res.RotationSpeedup = ratio(res.Rotation.Rotation.PerSecond, res.BaselineRotation.Rotation.PerSecond)
			r.logf("rotation: %.1f rotations/s against the baseline build's %.1f: %.2fx", res.Rotation.Rotation.PerSecond, res.BaselineRotation.Rotation.PerSecond, res.RotationSpeedup)
		}
	}
	if cfg.GarbageConcurrency > 0 {
		if res.Garbage, err = r.garbage(ctx); err != nil {
			return res, err
		}
	}
	if cfg.Clients > 0 {
		if res.Scale, err = r.scale(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sweep runs, at each concurrency and token type, entropy, the floor
// plugin (when mounted), AppRole with a reused secret_id and AppRole with
// single-use secret_ids back to back, so that drift of the machine touches
// all of them alike.
func (r *runner) sweep(ctx context.Context, res *Results) error {
	cfg := r.cfg
	for _, c := range cfg.Sweep {
		for _, token := range tokenTypes {
			clients, err := r.ensureOwn(ctx, r.tgt.mount(), token, c)
			if err != nil {
				return err
			}
			req, err := r.entropyRequests(clients, cfg.Logins, func(i int) int { return i % c })
			if err != nil {
				return err
			}
			ent, err := r.run(ctx, r.phase("sweep", "entropy", token, c, cfg.Logins, req, expectToken, 0))
			if err != nil {
				return err
			}
			r.logResult(ent)
			res.Sweep = append(res.Sweep, ent)
			if cfg.CompareVersion1 {
				v1, err := r.version1Phase(ctx, clients, token, c)
				if err != nil {
					return err
				}
				r.logResult(v1)
				res.Sweep = append(res.Sweep, v1)
			}
			rt := Ratio{Concurrency: c, TokenType: token}

			if r.tgt.Floor != "" {
				fl, err := r.run(ctx, r.phase("sweep", "floor", token, c, cfg.Logins, bodiesRequest("auth/"+r.tgt.Floor+"/login", floorBodies(token, cfg.TokenTTL, c), func(i int) int { return i % c }), expectToken, 0))
				if err != nil {
					return err
				}
				r.logResult(fl)
				res.Sweep = append(res.Sweep, fl)
				rt.VsFloor = ratio(ent.PerSecond, fl.PerSecond)
				rt.CPUVsFloor = ratio(ent.CPU.Vault+ent.CPU.Plugin, fl.CPU.Vault+fl.CPU.Plugin)
			}

			path := "auth/" + approleMount + "/login"
			reused, err := approleBodies(ctx, r.vc, approleRole(token, false), c, cfg.EnrollConcurrency)
			if err != nil {
				return err
			}
			re, err := r.run(ctx, r.phase("sweep", "approle-reused", token, c, cfg.Logins, bodiesRequest(path, reused, func(i int) int { return i % c }), expectToken, 0))
			if err != nil {
				return err
			}
			r.logResult(re)

			single, err := approleBodies(ctx, r.vc, approleRole(token, true), cfg.Logins, cfg.EnrollConcurrency)
			if err != nil {
				return err
			}
			si, err := r.run(ctx, r.phase("sweep", "approle-single-use", token, c, cfg.Logins, bodiesRequest(path, single, func(i int) int { return i }), expectToken, 0))
			if err != nil {
				return err
			}
			r.logResult(si)

			res.Sweep = append(res.Sweep, re, si)
			rt.VsReused, rt.VsSingleUse = ratio(ent.PerSecond, re.PerSecond), ratio(ent.PerSecond, si.PerSecond)
			res.Ratios = append(res.Ratios, rt)
		}
	}
	return nil
}

// version1Phase is an entropy phase of the sweep with proofs of protocol
// version 1, which the server still reads: the same clients, the ranges on
// the wire.
func (r *runner) version1Phase(ctx context.Context, clients []*entropyClient, token string, c int) (Result, error) {
	saved := make([]uint8, len(clients))
	for i, cl := range clients {
		saved[i], cl.version = cl.version, 1
	}
	defer func() {
		for i, cl := range clients {
			cl.version = saved[i]
		}
	}()
	req, err := r.entropyRequests(clients, r.cfg.Logins, func(i int) int { return i % c })
	if err != nil {
		return Result{}, err
	}
	return r.run(ctx, r.phase("sweep", "entropy-v1", token, c, r.cfg.Logins, req, expectToken, 0))
}

func (r *runner) phase(name, method, token string, c, count int, req func(w, i int) (string, []byte, error), check func(int, *loginResponse) error, rate float64) *phase {
	return &phase{name: name, method: method, token: token, concurrency: c, count: count, request: req, check: check, rate: rate, timeout: r.cfg.PhaseTimeout, perf: r.perf, logf: r.logf}
}

func (r *runner) logResult(x Result) {
	r.logf("%-9s %-22s %-7s c=%-3d %6d req %8.1f/s p50 %7.2f ms p99 %7.2f ms errors %d not sent %d",
		x.Phase, x.Method, x.TokenType, x.Concurrency, x.Requests, x.PerSecond, x.P50ms, x.P99ms, x.Errors, x.NotSent)
	for _, s := range x.ErrorSample {
		r.logf("  error: %s", s)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// rotation runs the same paced entropy service-token load on mount twice:
// alone, then with the rotation worker at cfg.RotationRate.
func (r *runner) rotation(ctx context.Context, res *Results, mount string) (*RotationResult, error) {
	cfg := r.cfg
	c := cfg.RotationConcurrency
	rate := cfg.RotationLoginRate
	if rate <= 0 {
		// Half of what the sweep measured at the nearest concurrency.
		best := -1
		for i, x := range res.Sweep {
			if x.Method == "entropy" && x.TokenType == "service" && (best < 0 || abs(x.Concurrency-c) < abs(res.Sweep[best].Concurrency-c)) {
				best = i
			}
		}
		rate = 50
		if best >= 0 {
			rate = max(res.Sweep[best].PerSecond/2, 10)
		}
	}
	// As many logins as fit in the phase's time at that rate, leaving a
	// margin under the proofs' age limit.
	count := min(cfg.Logins, int(rate*(cfg.PhaseTimeout-10*time.Second).Seconds()))
	r.logf("rotation: enrolling %d clients of role %s on auth/%s (rotation_period 1s, %s tokens)", cfg.RotationPopulation, roleRotate, mount, cfg.RotationTokenType)
	pop, _, err := enroll(ctx, r.vc, "auth/"+mount, roleRotate, cfg.RotationPopulation, cfg.EnrollConcurrency, func(int) bool { return true })
	if err != nil {
		return nil, err
	}
	clients, err := r.ensureOwn(ctx, mount, "service", c)
	if err != nil {
		return nil, err
	}
	run := func(name string) (Result, error) {
		req, err := r.entropyRequests(clients, count, func(i int) int { return i % c })
		if err != nil {
			return Result{}, err
		}
		// Not r.run: the rotation worker's tokens are revoked with the
		// phase's, once the worker has stopped (its rate is measured
		// over its own run).
		return r.phase(name, "entropy", "service", c, count, req, expectToken, rate).run(ctx, r.h, r.pid), nil
	}
	// The rotation role's clients were enrolled just now: let their
	// rotation_period pass so that every first login is handed a
	// generation.
	time.Sleep(1500 * time.Millisecond)
	out := &RotationResult{Mount: mount, TokenType: cfg.RotationTokenType}
	if out.Baseline, err = run("rotation-baseline"); err != nil {
		return nil, err
	}
	r.logResult(out.Baseline)
	if err := r.revokeLogins(ctx); err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	rot := newRotator(r.h, pop, cfg.RotationRate, cfg.RotationWorkers)
	done := make(chan RotationStats, 1)
	go func() { done <- rot.run(rctx) }()
	// The worker reaches its rate before the measured window opens.
	time.Sleep(2 * time.Second)
	out.WithRotation, err = run("with-rotation")
	stop()
	out.Rotation = <-done
	if err != nil {
		return nil, err
	}
	if err := r.revokeLogins(ctx); err != nil {
		return nil, err
	}
	r.logResult(out.WithRotation)
	r.logf("rotation worker: %.1f rotations/s (target %.0f), %d logins, %d errors, %d not due, %d missed ticks",
		out.Rotation.PerSecond, out.Rotation.TargetRate, out.Rotation.Logins, out.Rotation.Errors, out.Rotation.NotDue, out.Rotation.Missed)
	out.P99Ratio = ratio(out.WithRotation.P99ms, out.Baseline.P99ms)
	return out, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// scale measures the same login load with ClientsSmall and with Clients
// enrolled in role scale. The logins go to a sample of ClientsSmall clients
// spread over the whole population (every k-th enrolled), so that the large
// run touches records across all of storage, not only the first ones.
func (r *runner) scale(ctx context.Context) (*ScaleResult, error) {
	cfg := r.cfg
	mount := "auth/" + r.tgt.mount()
	out := &ScaleResult{Small: cfg.ClientsSmall, Large: max(cfg.Clients, cfg.ClientsSmall)}
	k := max(1, out.Large/out.Small)
	r.logf("scale: enrolling %d clients of role %s", out.Small, roleScale)
	small, d, err := enroll(ctx, r.vc, mount, roleScale, out.Small, cfg.EnrollConcurrency, func(int) bool { return true })
	if err != nil {
		return nil, err
	}
	out.EnrollSmallSecs = d.Seconds()
	measure := func(name string, sample []*entropyClient) (Result, error) {
		picks := make([]int, cfg.Logins)
		for i := range picks {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(sample))))
			picks[i] = int(n.Int64())
		}
		req, err := r.entropyRequests(sample, cfg.Logins, func(i int) int { return picks[i] })
		if err != nil {
			return Result{}, err
		}
		x := r.phase(name, "entropy", "batch", cfg.ScaleConcurrency, cfg.Logins, req, expectToken, 0).run(ctx, r.h, r.pid)
		r.logResult(x)
		return x, nil
	}
	if out.SmallResult, err = measure(fmt.Sprintf("scale-%d", out.Small), small); err != nil {
		return nil, err
	}
	out.RaftBytesSmall = dirSize(r.tgt.Dir + "/data")

	rest := out.Large - out.Small
	r.logf("scale: enrolling %d more clients (%d at a time)", rest, cfg.EnrollConcurrency)
	// Which of the first Small stay in the sample: every k-th, as for
	// the rest (enrollment order is not client order, which is fine).
	var sample []*entropyClient
	for i, c := range small {
		if i%k == 0 {
			sample = append(sample, c)
		}
	}
	more, d, err := enroll(ctx, r.vc, mount, roleScale, rest, cfg.EnrollConcurrency, func(i int) bool { return (i+out.Small)%k == 0 })
	if err != nil {
		return nil, err
	}
	sample = append(sample, more...)
	out.EnrollLargeSecs = d.Seconds()
	out.EnrollPerSecond = ratio(float64(out.Large), out.EnrollSmallSecs+out.EnrollLargeSecs)
	r.logf("scale: %d enrollments took %.1f s (%.0f/s)", out.Large, out.EnrollSmallSecs+out.EnrollLargeSecs, out.EnrollPerSecond)
	if out.LargeResult, err = measure(fmt.Sprintf("scale-%d", out.Large), sample); err != nil {
		return nil, err
	}
	out.RaftBytesLarge = dirSize(r.tgt.Dir + "/data")
	out.VaultRSSLarge = rssBytes(r.pid)
	out.PerSecondRatio = ratio(out.SmallResult.PerSecond, out.LargeResult.PerSecond)
	out.P50Ratio = ratio(out.LargeResult.P50ms, out.SmallResult.P50ms)
	out.P99Ratio = ratio(out.LargeResult.P99ms, out.SmallResult.P99ms)
	return out, nil
}
