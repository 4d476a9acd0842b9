package load

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// tinyConfig is every step of the measurement, small enough for the test
// suite (well under a minute on two busy cores). Its tokens outlive the
// test, so that a service token the harness did not revoke is still there
// at the end (TestRunShort).
func tinyConfig() Config {
	return Config{
		Sweep: []int{1, 2}, Logins: 40, PhaseTimeout: 40 * time.Second, TokenTTL: "30m",
		ClientsSmall: 10, Clients: 40, ScaleConcurrency: 2, EnrollConcurrency: 4,
		RotationRate: 5, RotationPopulation: 12, RotationWorkers: 2, RotationConcurrency: 2, RotationLoginRate: 20,
		GarbageConcurrency: 2,
		SoakConcurrency:    2, SoakSample: 2 * time.Second, SoakRotationRate: 3, SoakTokenType: "service", RotationTokenType: "service", Soak: 5 * time.Second,
	}
}

// startTarget starts a server with the entropy plugin at auth/entropy and,
// with extra, the floor plugin (built now) at auth/floor and the same
// entropy build registered again as the baseline at auth/entropy-baseline
// (the real baseline, a build at a fixed commit, is make load's: a test
// cannot count on a clone holding that commit).
func startTarget(t *testing.T, extra bool) *Target {
	t.Helper()
	// sys/raw, to count the mount's keys; warn, because the plugin logs
	// every login at info.
	t.Setenv("VAULT_RAW_STORAGE", "1")
	t.Setenv("VAULT_LOG_LEVEL", "warn")
	s := harness.StartServer(t)
	s.EnablePlugin(t)
	tgt := &Target{Addr: s.Addr, RootToken: s.RootToken, Dir: s.Dir}
	if extra {
		repo, err := harness.FindRepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		floor, err := BuildFloor(ctx, repo, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		plugin, _ := harness.Binaries(t)
		if err := tgt.MountExtra(ctx, Floor(floor), Baseline(plugin)); err != nil {
			t.Fatal(err)
		}
	}
	return tgt
}

// TestRunShort runs every step of the measurement in miniature against a
// real Vault: each phase must send all its requests and get what it
// expects (a token, or for garbage a refusal), rotations must happen, the
// garbage must leave the mount's storage as it was, and the report must
// have a row per phase. Timings are printed, never asserted.
func TestRunShort(t *testing.T) {
	harness.Integration(t)
	tgt := startTarget(t, true)
	cfg := tinyConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Failures(); len(f) > 0 {
		t.Fatalf("failures:\n%s", strings.Join(f, "\n"))
	}
	// Four methods (entropy, floor, AppRole twice), two token types, two
	// concurrencies.
	if len(res.Sweep) != 16 || len(res.Ratios) != 4 {
		t.Fatalf("%d sweep results and %d ratios, want 16 and 4", len(res.Sweep), len(res.Ratios))
	}
	for _, r := range res.Sweep {
		if r.OK != cfg.Logins {
			t.Errorf("%s %s c=%d: %d logins succeeded, want %d", r.Method, r.TokenType, r.Concurrency, r.OK, cfg.Logins)
		}
	}
	for _, r := range res.Ratios {
		if r.VsFloor == 0 || r.CPUVsFloor == 0 {
			t.Errorf("c=%d %s: no ratio against the floor: %+v", r.Concurrency, r.TokenType, r)
		}
	}
	// The floor's CPU is its own process's, apart from the entropy
	// plugin's.
	for _, r := range res.Sweep {
		if r.Method == "floor" && r.CPU.Plugins[FloorPlugin] == 0 && r.CPU.Plugins["vault-plugin-auth-entropy"] > 0 {
			t.Errorf("floor phase c=%d %s: CPU charged to the entropy plugin only: %+v", r.Concurrency, r.TokenType, r.CPU)
		}
	}
	for _, rot := range []*RotationResult{res.Rotation, res.BaselineRotation} {
		if rot == nil || rot.Rotation.Rotations == 0 {
			t.Fatalf("no background rotation: %+v", rot)
		}
	}
	if res.Rotation.Mount != "entropy" || res.BaselineRotation.Mount != baselineMount || res.RotationSpeedup == 0 {
		t.Errorf("rotation comparison: mounts %q and %q, speedup %.2f", res.Rotation.Mount, res.BaselineRotation.Mount, res.RotationSpeedup)
	}
	g := res.Garbage
	if g == nil || len(g.Phases) != 4 {
		t.Fatalf("garbage phases: %+v", g)
	}
	for _, p := range g.Phases[1:] {
		if p.Statuses[200] != 0 || p.OK != cfg.Logins {
			t.Errorf("%s: statuses %v, %d refused as expected, want %d", p.Method, p.Statuses, p.OK, cfg.Logins)
		}
	}
	if g.KeysBefore == nil || total(g.KeysAfter) != total(g.KeysBefore) {
		t.Errorf("garbage changed the mount's keys: before %v, after %v", g.KeysBefore, g.KeysAfter)
	}
	if s := res.Scale; s == nil || s.Large != cfg.Clients || s.LargeResult.OK != cfg.Logins {
		t.Fatalf("population comparison: %+v", res.Scale)
	}
	// Every service token of every phase was revoked before the next
	// phase (revokeLogins), not left to expire in a later one: with
	// tinyConfig's token_ttl, none would have expired yet.
	vc, err := tgt.api()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{tgt.mount(), tgt.Floor, approleMount, tgt.Baseline} {
		leases, err := vc.Logical().ListWithContext(ctx, "sys/leases/lookup/auth/"+m+"/login/")
		if err != nil {
			t.Fatal(err)
		}
		if leases != nil && len(leases.Data["keys"].([]interface{})) > 0 {
			t.Errorf("auth/%s/login: %d leases left after the run, want none", m, len(leases.Data["keys"].([]interface{})))
		}
	}
	var md bytes.Buffer
	res.WriteMarkdown(&md)
	if n := strings.Count(md.String(), "\n| sweep |"); n != 16 {
		t.Errorf("%d sweep rows in the report, want 16", n)
	}
	if !strings.Contains(md.String(), res.Hardware.CPUModel) || res.Hardware.Cores == 0 || res.Hardware.Vault == "" {
		t.Errorf("hardware not reported: %+v", res.Hardware)
	}
	t.Logf("\n%s", md.String())
}

// TestSoakShort runs the soak for a few seconds: no errors, samples taken,
// and no nonce records in the mount's storage (replay protection keeps
// accepted nonces in memory).
func TestSoakShort(t *testing.T) {
	harness.Integration(t)
	tgt := startTarget(t, false)
	cfg := tinyConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Soak(ctx, cfg, tgt)
	if err != nil {
		t.Fatal(err)
	}
	res := &Results{Soak: s}
	if f := res.Failures(); len(f) > 0 {
		t.Fatalf("failures:\n%s", strings.Join(f, "\n"))
	}
	if len(s.Samples) < 2 {
		t.Fatalf("%d samples, want at least 2", len(s.Samples))
	}
	last := s.Samples[len(s.Samples)-1]
	if last.MountKeys == nil || last.VaultRSS == 0 || last.RaftBytes == 0 {
		t.Fatalf("last sample lacks figures: %+v", last)
	}
	if s.NonceKeysMax != 0 {
		t.Errorf("up to %d nonce/ keys in the mount, want none", s.NonceKeysMax)
	}
	var md bytes.Buffer
	s.WriteMarkdown(&md)
	t.Logf("\n%s", md.String())
}
