// Command entropy-load measures the entropy auth method against AppRole on
// a real Vault server it starts (single-node raft, loopback only), prints
// the hardware and a markdown report, and writes the results as JSON and
// a plot as SVG. See package testing/load and `entropy-load -h`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/load"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "entropy-load:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("entropy-load", flag.ContinueOnError)
	full := load.FullConfig()
	quick := fs.Bool("quick", false, "a short run (a few minutes) instead of the full measurement; other flags still apply")
	sweep := fs.String("sweep", intsString(full.Sweep), "concurrencies of the login sweep, comma-separated")
	logins := fs.Int("logins", full.Logins, "logins per timed phase")
	inline := fs.Bool("inline-proofs", false, "make entropy proofs inside the timed window instead of before it")
	compareV1 := fs.Bool("compare-version-1", false, "after each entropy phase of the sweep, run it again with proofs of protocol version 1 (the ranges on the wire)")
	ttl := fs.String("token-ttl", full.TokenTTL, "token_ttl of every role of both methods")
	clients := fs.Int("clients", full.Clients, "large population of the per-login cost comparison (0 skips it)")
	small := fs.Int("clients-small", full.ClientsSmall, "small population of the per-login cost comparison")
	rotRate := fs.Float64("rotation-rate", full.RotationRate, "background rotations per second (0 skips the rotation comparison)")
	rotPop := fs.Int("rotation-population", full.RotationPopulation, "clients the rotation worker rotates")
	rotLogin := fs.Float64("rotation-login-rate", 0, "logins/s of the load measured with and without rotation (0: half the sweep's entropy service-token rate)")
	rotToken := fs.String("rotation-token-type", full.RotationTokenType, "token type of the rotated clients' role: service or batch")
	garbage := fs.Int("garbage-concurrency", full.GarbageConcurrency, "concurrency of the garbage flood (0 skips it)")
	soak := fs.Duration("soak", 0, "run only a soak at saturation for this long (e.g. 10m) instead of the measurement")
	soakConc := fs.Int("soak-concurrency", full.SoakConcurrency, "workers of the soak")
	soakSample := fs.Duration("soak-sample", full.SoakSample, "how often the soak samples the server")
	soakRot := fs.Float64("soak-rotation-rate", full.SoakRotationRate, "background rotations per second during the soak")
	soakToken := fs.String("soak-token-type", full.SoakTokenType, "token type of the soak's logins: service or batch")
	out := fs.String("out", "load-results.json", "results file (JSON)")
	svg := fs.String("svg", "load-plot.svg", "plot of logins/s against concurrency (SVG; empty: none)")
	logLevel := fs.String("log-level", "warn", "Vault's log level (the plugin logs every login at info)")
	keep := fs.Bool("keep", false, "leave the server's directory (data, log) in place")
	perfDir := fs.String("perf-dir", "", "record every timed phase with `perf record -a -g` into this directory (a diagnosis: perf's overhead is in the figures)")
	suite := fs.String("key-suite", "", "key_suite of the entropy mounts (default: the plugin's, X-Wing)")
	floor := fs.Bool("floor", true, "mount the floor plugin (the least an external auth plugin does per login) and measure it in the sweep")
	baseline := fs.String("baseline-plugin", "", "a build of the entropy plugin at a fixed commit (scripts/build-plugin-at.sh) whose rotation throughput is measured beside this build's")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: entropy-load [flags]\n\nStarts a Vault (VAULT_BIN, else scripts/build-vault.sh) with the plugin (ENTROPY_BIN_DIR, else\nscripts/build-plugin.sh) and measures logins against AppRole. Run it from the repository.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg := full
	if *quick {
		cfg = load.QuickConfig()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if set["sweep"] {
		if cfg.Sweep, err = parseInts(*sweep); err != nil {
			return err
		}
	}
	apply := func(name string, f func()) {
		if set[name] {
			f()
		}
	}
	apply("logins", func() { cfg.Logins = *logins })
	apply("token-ttl", func() { cfg.TokenTTL = *ttl })
	apply("clients", func() { cfg.Clients = *clients })
	apply("clients-small", func() { cfg.ClientsSmall = *small })
	apply("rotation-rate", func() { cfg.RotationRate = *rotRate })
	apply("rotation-population", func() { cfg.RotationPopulation = *rotPop })
	apply("rotation-token-type", func() { cfg.RotationTokenType = *rotToken })
	apply("garbage-concurrency", func() { cfg.GarbageConcurrency = *garbage })
	apply("soak-concurrency", func() { cfg.SoakConcurrency = *soakConc })
	apply("soak-sample", func() { cfg.SoakSample = *soakSample })
	apply("soak-rotation-rate", func() { cfg.SoakRotationRate = *soakRot })
	apply("soak-token-type", func() { cfg.SoakTokenType = *soakToken })
	cfg.InlineProofs = *inline
	cfg.CompareVersion1 = *compareV1
	cfg.KeySuite = *suite
	cfg.PerfDir = *perfDir
	cfg.RotationLoginRate = *rotLogin
	cfg.Soak = *soak
	cfg.Progress = os.Stderr
	for name, v := range map[string]string{"rotation-token-type": cfg.RotationTokenType, "soak-token-type": cfg.SoakTokenType} {
		if v != "service" && v != "batch" {
			return fmt.Errorf("-%s %q: want service or batch", name, v)
		}
	}
	if cfg.Clients > 0 && cfg.Clients < cfg.ClientsSmall {
		return fmt.Errorf("-clients %d is below -clients-small %d", cfg.Clients, cfg.ClientsSmall)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	repo, err := harness.FindRepoRoot()
	if err != nil {
		return err
	}
	vaultBin, pluginBin, cleanupBins, err := binaries(ctx, repo)
	defer cleanupBins() // also after a failed build: the temporary directory exists
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "entropy-load-")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "entropy-load: starting Vault in %s (log level %s)\n", dir, *logLevel)
	var extra []load.ExtraPlugin
	if *floor {
		floorBin := filepath.Join(filepath.Dir(pluginBin), load.FloorPlugin)
		if _, serr := os.Stat(floorBin); serr != nil {
			if floorBin, err = load.BuildFloor(ctx, repo, dir); err != nil {
				return err
			}
		}
		extra = append(extra, load.Floor(floorBin))
	}
	if *baseline != "" {
		extra = append(extra, load.Baseline(*baseline))
	}
	tgt, stop, err := load.StartVault(ctx, repo, dir, vaultBin, pluginBin, *logLevel, extra...)
	if err != nil {
		return err
	}
	defer func() {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "entropy-load: stopping Vault:", err)
		}
		if *keep {
			fmt.Fprintf(os.Stderr, "entropy-load: server directory kept: %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()

	res := &load.Results{}
	if cfg.Soak > 0 {
		var s *load.SoakResult
		s, err = load.Soak(ctx, cfg, tgt)
		res.Soak = s
		if s != nil {
			res.Hardware = s.Hardware
		}
		res.ProofsMade = "during the soak, each after the last receipt"
		res.Started = time.Now().UTC().Add(-cfg.Soak)
	} else {
		var r *load.Results
		r, err = load.Run(ctx, cfg, tgt)
		if r != nil {
			res = r
		}
	}
	// Whatever was measured is written, even when a step failed.
	b, jerr := json.MarshalIndent(res, "", "  ")
	if jerr != nil {
		return jerr
	}
	// No secret in it: figures and settings only.
	if werr := os.WriteFile(*out, append(b, '\n'), 0o644); werr != nil {
		return werr
	}
	if *svg != "" && len(res.Sweep) > 0 {
		var buf bytes.Buffer
		if werr := res.WriteSVG(&buf); werr != nil {
			return werr
		}
		if werr := os.WriteFile(*svg, buf.Bytes(), 0o644); werr != nil {
			return werr
		}
	}
	res.WriteMarkdown(os.Stdout)
	fmt.Fprintf(os.Stderr, "entropy-load: results in %s", *out)
	if *svg != "" && len(res.Sweep) > 0 {
		fmt.Fprintf(os.Stderr, ", plot in %s", *svg)
	}
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	if f := res.Failures(); len(f) > 0 {
		return fmt.Errorf("%d failures:\n  %s", len(f), strings.Join(f, "\n  "))
	}
	return nil
}

// binaries finds Vault ($VAULT_BIN, else scripts/build-vault.sh) and the
// plugin ($ENTROPY_BIN_DIR, else built with scripts/build-plugin.sh into a
// temporary directory that cleanup removes).
func binaries(ctx context.Context, repo string) (vault, plugin string, cleanup func(), err error) {
	cleanup = func() {}
	vault = os.Getenv("VAULT_BIN")
	if vault == "" {
		if vault, err = script(ctx, repo, "build-vault.sh"); err != nil {
			return "", "", cleanup, err
		}
	}
	dir := os.Getenv("ENTROPY_BIN_DIR")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "entropy-load-bin-")
		if err != nil {
			return "", "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if dir, err = script(ctx, repo, "build-plugin.sh", tmp); err != nil {
			return "", "", cleanup, err
		}
	}
	plugin = filepath.Join(dir, "vault-plugin-auth-entropy")
	if _, err := os.Stat(plugin); err != nil {
		return "", "", cleanup, err
	}
	return vault, plugin, cleanup, nil
}

func script(ctx context.Context, repo, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", name), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/%s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad concurrency %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func intsString(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ",")
}
