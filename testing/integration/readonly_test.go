package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// cliRun runs vault-entropy against the server with env and stdin and
// returns its stdout and stderr; it fails the test unless it exits 0.
func (e *env) cliRun(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	_, cli := harness.Binaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(append(os.Environ(), "VAULT_ADDR="+e.Addr, "VAULT_TOKEN="), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("vault-entropy %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestReadOnlyStateLogins: a CI job's state, made by the operator's wrapped
// enrollment and `vault-entropy bootstrap -wrap-token=- -encode` without a
// file, logs in through the CLI from VAULT_ENTROPY_STATE, from stdin and
// from a 0400 file in a 0500 directory. Its role rotates every second, so
// every login after the first is handed generation 2, which the read-only
// copies cannot keep: each keeps proving generation 1, gets a token that
// reads the role's secret, says so once on stderr, and is never taken for
// a clone.
func TestReadOnlyStateLogins(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "ci", map[string]interface{}{"rotation_period": "1s", "entropy_size": 4096})

	token, err := e.Vault(t, nil, "write", "-wrap-ttl=5m", "-field=wrapping_token", "-f", "auth/entropy/role/ci/enroll", "client_id=job-1")
	if err != nil {
		t.Fatalf("wrapped enroll: %v", err)
	}
	stateFileEnv := client.StateFileEnv + "=" + filepath.Join(t.TempDir(), "default-state.json")
	encoded, stderr := e.cliRun(t, []string{stateFileEnv}, strings.TrimSpace(token), "bootstrap", "-wrap-token=-", "-encode")
	encoded = strings.TrimSpace(encoded)
	if !strings.HasPrefix(encoded, "ves1.") || stderr != "" {
		t.Fatalf("bootstrap -encode printed %d bytes, stderr %q", len(encoded), stderr)
	}
	if _, err := os.Stat(strings.TrimPrefix(stateFileEnv, client.StateFileEnv+"=")); !os.IsNotExist(err) {
		t.Fatalf("bootstrap -encode wrote a state file: %v", err)
	}
	state, err := client.DecodeState([]byte(encoded))
	must(t, err)

	// The read-only file, as a deployment package would hold it.
	dir := filepath.Join(t.TempDir(), "package")
	must(t, os.Mkdir(dir, 0o700))
	file := filepath.Join(dir, "state.json")
	must(t, state.Save(file))
	must(t, os.Chmod(file, 0o400))
	must(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	fileBytes, err := os.ReadFile(file)
	must(t, err)
	dirEntries := func() string {
		entries, err := os.ReadDir(dir)
		must(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	// Save left its lock file there: the package holds what it holds.
	entriesBefore := dirEntries()

	sources := []struct {
		name  string
		env   []string
		stdin string
		args  []string
	}{
		{"VAULT_ENTROPY_STATE", []string{client.StateEnv + "=" + encoded}, "", []string{"-state-env=" + client.StateEnv}},
		{"stdin", nil, encoded + "\n", []string{"-state=-"}},
		{"read-only file", nil, "", []string{"-state=" + file, "-read-only"}},
	}
	login := func(t *testing.T, i int, env []string, stdin string, args []string) (note bool) {
		t.Helper()
		out, stderr := e.cliRun(t, env, stdin, append([]string{"login"}, args...)...)
		if strings.Contains(stderr, encoded[5:40]) || strings.Contains(stderr, "hvs.") {
			t.Fatalf("login %d: stderr carries the state or a token: %q", i, stderr)
		}
		c := e.TokenClient(t, strings.TrimSpace(out))
		self, err := c.Auth().Token().LookupSelfWithContext(t.Context())
		must(t, err)
		meta, _ := self.TokenMetadata()
		if meta["client_id"] != "job-1" || meta["generation"] != "1" {
			t.Fatalf("login %d: token metadata %v", i, meta)
		}
		if sec, err := c.Logical().ReadWithContext(t.Context(), allowedSecret); err != nil || sec == nil {
			t.Fatalf("login %d: reading the allowed secret: %v", i, err)
		}
		n := strings.Count(stderr, "Vault handed out generation 2")
		if n > 1 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("login %d: stderr %q", i, stderr)
		}
		return n == 1
	}

	// The first login comes within the rotation period of the enrollment.
	login(t, 0, sources[0].env, sources[0].stdin, sources[0].args)
	time.Sleep(1500 * time.Millisecond)
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			for i := 1; i <= 3; i++ {
				if !login(t, i, src.env, src.stdin, src.args) {
					t.Fatalf("login %d: no note of the rotation it could not keep", i)
				}
				rec := e.clientRecord(t, "ci", "job-1")
				if rec.Generation != 1 || rec.Pending != 2 {
					t.Fatalf("login %d: server at generation %d, pending %d", i, rec.Generation, rec.Pending)
				}
			}
		})
	}
	e.mustNotBeLocked(t, "ci", "job-1")
	if lines := e.logLines(t, "clone detected", "client_id=job-1"); len(lines) > 0 {
		t.Fatalf("a read-only copy was taken for a clone: %v", lines)
	}
	if after, err := os.ReadFile(file); err != nil || string(after) != string(fileBytes) {
		t.Fatalf("the read-only file changed: %v", err)
	}
	if after := dirEntries(); after != entriesBefore {
		t.Fatalf("the read-only directory changed from %q to %q", entriesBefore, after)
	}
}
