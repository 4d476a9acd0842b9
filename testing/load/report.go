package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// WriteMarkdown writes the run's tables.
func (res *Results) WriteMarkdown(w io.Writer) {
	h := res.Hardware
	fmt.Fprintf(w, "## Load run %s\n\n", res.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Hardware: %s, %d cores, %d MiB; %s; Vault %s; plugin %s; %s. Proofs made %s.\n\n",
		h.CPUModel, h.Cores, h.MemoryMB, h.Go, h.Vault, h.PluginVersion, h.Storage, res.ProofsMade)
	if len(res.Sweep) > 0 {
		fmt.Fprintf(w, "### Logins against concurrency\n\n")
		resultTable(w, res.Sweep)
		fmt.Fprintf(w, "\nEntropy logins/s over each other method's, and entropy's CPU per login (Vault + plugin) over the floor's:\n\n")
		fmt.Fprintf(w, "| concurrency | token | vs AppRole reused | vs AppRole single-use | vs floor | CPU vs floor |\n| ---: | --- | ---: | ---: | ---: | ---: |\n")
		for _, r := range res.Ratios {
			fmt.Fprintf(w, "| %d | %s | %.2fx | %.2fx | %s | %s |\n", r.Concurrency, r.TokenType, r.VsReused, r.VsSingleUse, times(r.VsFloor), times(r.CPUVsFloor))
		}
		fmt.Fprintln(w)
	}
	for _, r := range []*RotationResult{res.Rotation, res.BaselineRotation} {
		if r == nil {
			continue
		}
		fmt.Fprintf(w, "### Background rotation (auth/%s)\n\n", r.Mount)
		resultTable(w, []Result{r.Baseline, r.WithRotation})
		st := r.Rotation
		fmt.Fprintf(w, "\nRotation worker (%s tokens): %.1f rotations/s reached (target %.0f/s), %d logins, %d errors, %d not due, %d missed ticks. p99 with / without: %.2fx (target <= 1.5x).\n\n",
			r.TokenType, st.PerSecond, st.TargetRate, st.Logins, st.Errors, st.NotDue, st.Missed, r.P99Ratio)
	}
	if res.RotationSpeedup > 0 {
		fmt.Fprintf(w, "Sustained rotations/s, this build over the baseline build on the same server: **%.2fx** (target >= 2x).\n\n", res.RotationSpeedup)
	}
	if g := res.Garbage; g != nil {
		fmt.Fprintf(w, "### Garbage flood\n\n")
		resultTable(w, g.Phases)
		if g.KeysBefore != nil {
			fmt.Fprintf(w, "\nMount storage keys before the garbage: %d %v; after: %d %v.\n", total(g.KeysBefore), g.KeysBefore, total(g.KeysAfter), g.KeysAfter)
		}
		fmt.Fprintln(w)
	}
	if s := res.Scale; s != nil {
		fmt.Fprintf(w, "### Per-login cost against enrolled clients (entropy_size 4096, batch tokens)\n\n")
		resultTable(w, []Result{s.SmallResult, s.LargeResult})
		fmt.Fprintf(w, "\n%d enrollments took %.1f s (%.0f/s, unwrapped, in parallel). logins/s small / large: %.2fx; p50 large / small: %.2fx; p99 large / small: %.2fx (target <= 1.1x). Raft data: %d MiB with %d clients, %d MiB with %d.\n\n",
			s.Large, s.EnrollSmallSecs+s.EnrollLargeSecs, s.EnrollPerSecond, s.PerSecondRatio, s.P50Ratio, s.P99Ratio,
			s.RaftBytesSmall>>20, s.Small, s.RaftBytesLarge>>20, s.Large)
	}
	if s := res.Soak; s != nil {
		s.WriteMarkdown(w)
	}
}

// resultTable writes one row per phase. CPU is in seconds per 1,000
// requests, that is milliseconds per request: Vault's, the plugin
// processes' (each one that used any), and the load generator's.
func resultTable(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "| phase | method | token | conc. | requests | per s | p50 ms | p99 ms | errors | not sent | CPU ms/req: vault | plugins | load gen |\n")
	fmt.Fprintf(w, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, r := range rs {
		rate := ""
		if r.TargetRate > 0 {
			rate = fmt.Sprintf(" @%.0f/s", r.TargetRate)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d%s | %d | %.1f | %.2f | %.2f | %d | %d | %.3f | %s | %.3f |\n",
			r.Phase, r.Method, r.TokenType, r.Concurrency, rate, r.Requests, r.PerSecond, r.P50ms, r.P99ms, r.Errors, r.NotSent,
			r.CPU.Vault, pluginCPU(r.CPU), r.CPU.Self)
	}
}

// pluginCPU lists the CPU of each plugin process that used a measurable
// amount in a phase, by short name ("entropy 0.971, floor 0.002"); the
// total when there is no breakdown.
func pluginCPU(c CPUPerThousand) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		if v := c.Plugins[name]; v >= 0.0005 {
			parts = append(parts, fmt.Sprintf("%s %.3f", strings.TrimPrefix(name, "vault-plugin-auth-"), v))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%.3f", c.Plugin)
	}
	return strings.Join(parts, ", ")
}

// times formats a ratio, or a dash when it was not measured.
func times(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// WriteMarkdown writes the soak's samples.
func (s *SoakResult) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "### Soak: %.0f s at concurrency %d, %s tokens\n\n", s.Seconds, s.Concurrency, s.TokenType)
	fmt.Fprintf(w, "| elapsed s | logins | errors | per s | p50 ms | p99 ms | vault RSS MiB | raft MiB | mount keys |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, x := range s.Samples {
		keys := "(no sys/raw)"
		if x.MountKeys != nil {
			var parts []string
			for _, k := range sortedKeys(x.MountKeys) {
				parts = append(parts, fmt.Sprintf("%s %d", k, x.MountKeys[k]))
			}
			keys = strings.Join(parts, ", ")
		}
		fmt.Fprintf(w, "| %.0f | %d | %d | %.1f | %.2f | %.2f | %d | %d | %s |\n",
			x.Elapsed, x.Logins, x.Errors, x.PerSecond, x.P50ms, x.P99ms, x.VaultRSS>>20, x.RaftBytes>>20, keys)
	}
	fmt.Fprintf(w, "\n%d logins (%.1f/s), %d errors", s.Logins, s.PerSecond, s.Errors)
	if r := s.Rotation; r != nil {
		fmt.Fprintf(w, "; background rotation %.1f/s, %d rotation errors", r.PerSecond, r.Errors)
	}
	if s.NonceKeysMax >= 0 {
		fmt.Fprintf(w, "; at most %d nonce/ keys in the mount", s.NonceKeysMax)
	}
	fmt.Fprintf(w, ".\n")
	for _, e := range s.ErrorSample {
		fmt.Fprintf(w, "- error: %s\n", e)
	}
	fmt.Fprintln(w)
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }

// Failures lists what makes a run fail: errors in any phase, an empty
// phase, rotation or soak errors. Timings are never a
// failure.
func (res *Results) Failures() []string {
	var out []string
	check := func(r Result) {
		// Requests left unsent when a phase reached its time limit are
		// reported, not failures: the rate measured is still valid.
		if r.Errors > 0 || r.Requests == 0 {
			out = append(out, fmt.Sprintf("%s %s %s c=%d: %d requests, %d errors, %d not sent %v", r.Phase, r.Method, r.TokenType, r.Concurrency, r.Requests, r.Errors, r.NotSent, r.ErrorSample))
		}
	}
	for _, r := range res.Sweep {
		check(r)
	}
	for _, r := range []*RotationResult{res.Rotation, res.BaselineRotation} {
		if r == nil {
			continue
		}
		check(r.Baseline)
		check(r.WithRotation)
		if r.Rotation.Errors > 0 || r.Rotation.Rotations == 0 {
			out = append(out, fmt.Sprintf("rotation worker: %d rotations, %d errors %v", r.Rotation.Rotations, r.Rotation.Errors, r.Rotation.ErrorSample))
		}
	}
	if g := res.Garbage; g != nil {
		for _, r := range g.Phases {
			check(r)
		}
	}
	if s := res.Scale; s != nil {
		check(s.SmallResult)
		check(s.LargeResult)
	}
	if s := res.Soak; s != nil {
		if s.Errors > 0 || s.Logins == 0 {
			out = append(out, fmt.Sprintf("soak: %d logins, %d errors %v", s.Logins, s.Errors, s.ErrorSample))
		}
		if s.Rotation != nil && s.Rotation.Errors > 0 {
			out = append(out, fmt.Sprintf("soak rotation: %d errors %v", s.Rotation.Errors, s.Rotation.ErrorSample))
		}
	}
	return out
}
