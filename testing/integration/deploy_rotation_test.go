package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// deployOverlap is the role's generation_overlap in TestDeployTimeRotation:
// long enough for the concurrent logins on a loaded machine, short enough
// to wait out.
const deployOverlap = 40 * time.Second

// TestDeployTimeRotation: a CI job's client, enrolled with its state in
// VAULT_ENTROPY_STATE, is rotated at a deploy by docs/examples/rotate-at-deploy.sh
// (the issue endpoint, wrapped, redeemed by `vault-entropy bootstrap
// -wrap-token=- -encode`). Twenty concurrent read-only CLI logins, half from
// the old deployment's state and half from the new one's, all get tokens
// within the role's generation_overlap; a second deploy within the overlap
// is refused without touching the stored state; after the overlap the old
// state is refused and the server logs a clone.
func TestDeployTimeRotation(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "ci", map[string]interface{}{
		"entropy_size": 4096, "rotation_period": "24h", "generation_overlap": fmt.Sprint(int(deployOverlap.Seconds())),
	})
	token, err := e.Vault(t, nil, "write", "-wrap-ttl=5m", "-field=wrapping_token", "-f", "auth/entropy/role/ci/enroll", "client_id=job-1")
	if err != nil {
		t.Fatalf("wrapped enroll: %v", err)
	}
	gen1, _ := e.cliRun(t, nil, strings.TrimSpace(token), "bootstrap", "-wrap-token=-", "-encode")
	gen1 = strings.TrimSpace(gen1)
	e.cliRun(t, []string{client.StateEnv + "=" + gen1}, "", "login", "-state-env="+client.StateEnv)

	// The deploy: the script hands the new state to the "secret store", a
	// command that writes its stdin to a file.
	store := filepath.Join(t.TempDir(), "secret-store")
	out, stderr := e.deployScript(t, store)
	if out != "" || strings.Contains(stderr, "ves1.") {
		t.Fatalf("the script printed the state: stdout %d bytes, stderr %q", len(out), stderr)
	}
	raw, err := os.ReadFile(store)
	must(t, err)
	gen2 := string(raw)
	s2, err := client.DecodeState(raw)
	must(t, err)
	s1, err := client.DecodeState([]byte(gen1))
	must(t, err)
	if s2.Generation != 2 || s2.ClientID != "job-1" || s2.Role != "ci" || string(s2.Entropy) == string(s1.Entropy) {
		t.Fatalf("the deploy's state: generation %d, client %s/%s", s2.Generation, s2.Role, s2.ClientID)
	}
	if rec := e.clientRecord(t, "ci", "job-1"); rec.Generation != 1 || rec.Pending != 2 {
		t.Fatalf("after the deploy step: generation %d, pending %d", rec.Generation, rec.Pending)
	}

	// Old and new copies at once.
	const copies = 20
	var wg sync.WaitGroup
	errs := make(chan error, copies)
	for i := range copies {
		state, want := gen1, "1"
		if i%2 == 1 {
			state, want = gen2, "2"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.readOnlyCLILogin(t, state, want); err != nil {
				errs <- fmt.Errorf("copy %d (generation %s): %w", i, want, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	rec := e.clientRecord(t, "ci", "job-1")
	if rec.Generation != 2 || rec.Superseded != 1 || rec.Locked {
		t.Fatalf("after the concurrent logins: %+v", rec)
	}
	if lines := e.logLines(t, "clone detected", "client_id=job-1"); len(lines) > 0 {
		t.Fatalf("a copy was taken for a clone within the overlap: %v", lines)
	}

	// A second deploy within the overlap would drop generation 1 while
	// copies may still prove it: refused, and the store is left alone.
	must(t, os.WriteFile(store, []byte("untouched"), 0o600))
	if _, err := e.runDeployScript(t, store); err == nil || !strings.Contains(err.Error(), "generation_overlap runs until") {
		t.Fatalf("a deploy within the overlap: %v", err)
	}
	if raw, _ := os.ReadFile(store); string(raw) != "untouched" {
		t.Fatal("a refused deploy wrote the store")
	}

	// After the overlap the old deployment's state is a clone.
	ends := e.overlapEnds(t, "ci", "job-1")
	time.Sleep(time.Until(ends) + time.Second)
	if err := e.readOnlyCLILogin(t, gen1, "1"); err == nil {
		t.Fatal("the old state logged in after the overlap")
	}
	if lines := e.logLines(t, "clone detected", "client_id=job-1", "generation=1"); len(lines) != 1 {
		t.Fatalf("clone lines after the overlap: %v", lines)
	}
	if rec := e.clientRecord(t, "ci", "job-1"); !rec.Locked {
		t.Fatal("the clone did not lock the client (clone_action lock)")
	}
}

// deployScript runs docs/examples/rotate-at-deploy.sh for ci/job-1 with a
// store command that writes its stdin to store; it fails the test unless
// the script succeeds.
func (e *env) deployScript(t *testing.T, store string) (stdout, stderr string) {
	t.Helper()
	res, err := e.runDeployScript(t, store)
	if err != nil {
		t.Fatalf("rotate-at-deploy.sh: %v", err)
	}
	return res[0], res[1]
}

// runDeployScript runs the script and returns its stdout and stderr, or an
// error holding its stderr.
func (e *env) runDeployScript(t *testing.T, store string) ([2]string, error) {
	t.Helper()
	_, cli := harness.Binaries(t)
	bin := t.TempDir()
	must(t, os.Symlink(harness.VaultBinary(t), filepath.Join(bin, "vault")))
	must(t, os.Symlink(cli, filepath.Join(bin, "vault-entropy")))
	script := filepath.Join(harness.RepoRoot(t), "docs", "examples", "rotate-at-deploy.sh")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "ci", "job-1", "--", "sh", "-c", `umask 077 && cat > "$0"`, store)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "VAULT_ADDR="+e.Addr, "VAULT_TOKEN="+e.RootToken)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return [2]string{}, fmt.Errorf("%v: %s", err, errOut.String())
	}
	return [2]string{out.String(), errOut.String()}, nil
}

// readOnlyCLILogin logs in with `vault-entropy login -state-env` from
// state and checks that the token is the client's at generation want; safe
// for concurrent use.
func (e *env) readOnlyCLILogin(t *testing.T, state, want string) error {
	_, cli := harness.Binaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "login", "-state-env="+client.StateEnv)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+e.Addr, "VAULT_TOKEN=", client.StateEnv+"="+state)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, errOut.String())
	}
	c, err := e.Client.Clone()
	if err != nil {
		return err
	}
	c.SetToken(strings.TrimSpace(out.String()))
	self, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return err
	}
	meta, _ := self.TokenMetadata()
	if meta["client_id"] != "job-1" || meta["generation"] != want {
		return fmt.Errorf("token metadata %v", meta)
	}
	if sec, err := c.Logical().ReadWithContext(ctx, allowedSecret); err != nil || sec == nil {
		return fmt.Errorf("reading the allowed secret: %v", err)
	}
	return nil
}

// overlapEnds reads when the client's superseded generation stops being
// accepted.
func (e *env) overlapEnds(t *testing.T, role, id string) time.Time {
	t.Helper()
	s, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/role/"+role+"/client/"+id)
	must(t, err)
	v, _ := s.Data["overlap_ends"].(string)
	ends, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("overlap_ends %q: %v", v, err)
	}
	return ends
}
