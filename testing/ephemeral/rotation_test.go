package ephemeral

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// copies is how many copies of each example run at once in a batch: a
// pipeline's parallel jobs, a function's warm instances.
const copies = 3

// TestExamplesAcrossDeployRotation is the story end to end. The
// pipeline enrolls its client and stores the state as a CI secret and in
// the function's package; parallel CI jobs and function invocations log in
// from it at once, read their secrets and database credentials, and leave
// no token behind.
func TestExamplesAcrossDeployRotation(t *testing.T) {
	e := newEnv(t)
	old := e.enroll(t)
	oldBundle := bundle(t, old)
	serverlessBinary(t) // built before anything is timed

	if !t.Run("bad states are refused without a token", func(t *testing.T) {
		// No state: the job stops before it asks Vault anything.
		run(t, e.ciJob(t, "job-without-state", "")).mustFail(t, "VAULT_ENTROPY_STATE is not set")
		// A state cut short in a copy and paste: the login fails, and
		// says so without quoting the state.
		cut := run(t, e.ciJob(t, "job-with-cut-state", old[:len(old)-8]))
		cut.mustFail(t, "login to Vault failed")
		cut.mustNotPrint(t, e, old)
		// A bundled file others may write is refused, as a state file is.
		loose := filepath.Join(t.TempDir(), "state.json")
		b, err := os.ReadFile(oldBundle)
		must(t, err)
		must(t, os.WriteFile(loose, b, 0o666))
		must(t, os.Chmod(loose, 0o666))
		fn := run(t, e.function(t, "fn-with-loose-file", loose))
		fn.mustFail(t, "invocation failed")
		fn.mustNotPrint(t, e, old)
		if n := e.clientTokens(t); n != 0 {
			t.Fatalf("%d tokens after refused runs", n)
		}
	}) {
		return
	}

	if !t.Run("many copies of one state at once", func(t *testing.T) {
		var jobs, fns []*copyRun
		for i := range copies {
			jobs = append(jobs, e.ciJob(t, fmt.Sprintf("job-%d", i), old))
			fns = append(fns, e.function(t, fmt.Sprintf("fn-%d", i), oldBundle))
		}
		runAtOnce(t, append(jobs, fns...)...)
		for _, r := range jobs {
			r.mustBeJobOf(t, e, 1, old)
		}
		for _, r := range fns {
			r.mustBeInvocationOf(t, e, 1, old)
		}
		e.mustBeClean(t)
	}) {
		return
	}
}

// mustBeClean: no clone reported, the client not locked, no token left
// by the examples, no database role left by their leases.
func (e *env) mustBeClean(t *testing.T) {
	t.Helper()
	if lines := e.cloneLines(t); len(lines) > 0 {
		t.Fatalf("copies were taken for clones: %v", lines)
	}
	if rec := e.clientRecord(t); rec["locked"] != false {
		t.Fatalf("the client is locked: %v", rec["lock_reason"])
	}
	if n := e.clientTokens(t); n != 0 {
		t.Fatalf("%d of the examples' tokens outlived them", n)
	}
	e.mustHaveNoDatabaseRoles(t)
}
