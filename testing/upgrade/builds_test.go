package upgrade

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// build is one build of the plugin and the CLI of the same sources.
type build struct {
	name    string // "baseline" or "current", for messages
	plugin  string // the plugin binary
	cli     string // the vault-entropy binary
	version string // what the plugin reports (-version), and is registered as
	sha256  string // as registered (register)
}

var commitLine = regexp.MustCompile(`^([0-9a-f]{40})\b`)

// The files under testing/upgrade that name a baseline commit on their
// first line.
const (
	// releaseBaseline: the newest release, what operators run.
	releaseBaseline = "baseline-commit"
	// schemaV1Baseline: the last build of storage schema version 1, kept
	// so that the migration from it stays tested after the release.
	schemaV1Baseline = "schema-v1-commit"
)

// baselineCommit is the commit the first line of testing/upgrade/<file>
// names.
func baselineCommit(t *testing.T, root, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "testing", "upgrade", file))
	if err != nil {
		t.Fatal(err)
	}
	m := commitLine.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("testing/upgrade/%s does not start with a 40-hex commit: %q", file, b)
	}
	return m[1]
}

// baselineBuild builds (or finds in the cache) the plugin and the CLI of
// the commit testing/upgrade/<file> names, from `git archive`
// (scripts/build-plugin-at.sh).
func baselineBuild(t *testing.T, root, file string) build {
	t.Helper()
	commit := baselineCommit(t, root, file)
	if err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		// A shallow clone or a source archive: nothing to upgrade from. Said
		// loudly; .ci/run fetches the history first where it can.
		t.Skipf("SKIPPED: the upgrade test builds the baseline %s from git, and this checkout does not have it (%v): "+
			"run it in a full clone (git fetch --unshallow)", commit, err)
	}
	b := build{name: "baseline " + commit[:12]}
	b.plugin = run(t, root, filepath.Join(root, "scripts", "build-plugin-at.sh"), commit)
	b.cli = run(t, root, filepath.Join(root, "scripts", "build-plugin-at.sh"), commit, "vault-entropy")
	b.version = run(t, root, b.plugin, "-version")
	return b
}

// currentBuild is the worktree's build (harness.Binaries: make build's, or
// built once). A catalog holds one binary per name and version, so when it
// reports the baseline's version (no release in between raised VERSION) the
// plugin is built again, as scripts/lib/go-build.sh builds it, with
// "-upgrade-test" appended to its version.
func currentBuild(t *testing.T, root string, baseline build) build {
	t.Helper()
	plugin, cli := harness.Binaries(t)
	b := build{name: "current", plugin: plugin, cli: cli, version: run(t, root, plugin, "-version")}
	if b.version != baseline.version {
		return b
	}
	b.version += "-upgrade-test"
	b.plugin = filepath.Join(t.TempDir(), "vault-plugin-auth-entropy")
	script := `. scripts/lib/go-build.sh && go_build "$PWD" vault-plugin-auth-entropy "$1" "$2" "$(git rev-parse HEAD 2>/dev/null || echo unknown)"`
	run(t, root, "bash", "-c", script, "build", b.plugin, b.version)
	if got := run(t, root, b.plugin, "-version"); got != b.version {
		t.Fatalf("the current plugin rebuilt as %s reports %s", b.version, got)
	}
	return b
}

// run runs a command in dir and returns its stdout, trimmed.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}
