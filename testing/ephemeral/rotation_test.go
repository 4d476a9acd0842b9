package ephemeral

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copies is how many copies of each example run at once in a batch: a
// pipeline's parallel jobs, a function's warm instances.
const copies = 3

// TestExamplesAcrossDeployRotation is the story end to end. The
// pipeline enrolls its client and stores the state as a CI secret and in
// the function's package; parallel CI jobs and function invocations log in
// from it at once, read their secrets and database credentials, and leave
// no token behind. At the deploy the pipeline issues the next generation;
// the new deployment's first copy proves it, and during the role's
// generation_overlap old and new copies of both examples run at once,
// none taken for a clone. After the overlap an old copy is refused and
// logged as a clone: with clone_action=log the new copies go on, with lock
// the client is locked.
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
		fn.mustFail(t, "client state is readable by other users")
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
		fns = append(fns, e.functionFromEnv(t, "fn-env", old))
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

	if !t.Run("a job that fails or is cancelled after its login leaves no token", func(t *testing.T) {
		// A step that fails after the login: the EXIT trap revokes.
		failing := e.ciJob(t, "job-failing", old)
		failing.cmd.Env = append(failing.cmd.Env, "KV_FIELD=no_such_field")
		run(t, failing).mustFail(t, "has no field no_such_field")
		failing.mustNotPrint(t, e, old)

		// A job cancelled while it queries the database, as a CI system
		// cancels one: SIGTERM to its process group.
		cancelled := e.ciJob(t, "job-cancelled", old)
		cancelled.cmd.Env = append(cancelled.cmd.Env, "DB_QUERY=SELECT pg_sleep(60)")
		cancelled.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cancelled.begin(t)
		done := make(chan struct{})
		go func() { cancelled.finish(); close(done) }()
		e.waitForSleepingSession(t)
		must(t, syscall.Kill(-cancelled.cmd.Process.Pid, syscall.SIGTERM))
		<-done
		var exit *exec.ExitError
		if !errors.As(cancelled.err, &exit) || exit.ExitCode() != 143 {
			t.Fatalf("the cancelled job ended with %v, want exit status 143 (its TERM trap)\nstderr:\n%s", cancelled.err, cancelled.stderr.String())
		}
		cancelled.mustNotPrint(t, e, old)
		e.mustBeClean(t)
	}) {
		return
	}

	// The deploy: the pipeline issues the next generation and ships it
	// with the new deployment (a new CI secret, a new package).
	var next, nextBundle string
	top := t // the new package outlives the subtest that makes it
	if !t.Run("the pipeline issues the next generation", func(t *testing.T) {
		next = e.rotateAtDeploy(t, 2)
		nextBundle = bundle(top, next)
		e.mustBeAt(t, 1, 2, 0)
		if rec := e.clientRecord(t); rec["pending_out_of_band"] != true {
			t.Fatalf("the issued generation is not out of band: %v", rec)
		}
		// Until a new copy proves it, the old copies prove generation 1,
		// and no login hands them generation 2: it is out of band.
		fn := run(t, e.function(t, "fn-old-before-deploy", oldBundle))
		fn.mustBeInvocationOf(t, e, 1, old, next)
		e.mustBeAt(t, 1, 2, 0)
	}) {
		return
	}

	var overlapEnds time.Time
	if !t.Run("old and new copies at once during the overlap", func(t *testing.T) {
		// The first copy of the new deployment proves generation 2: the
		// overlap starts.
		first := run(t, e.function(t, "fn-new-first", nextBundle))
		first.mustBeInvocationOf(t, e, 2, old, next)
		e.mustBeAt(t, 2, 0, 1)
		rec := e.clientRecord(t)
		promoted, err1 := time.Parse(time.RFC3339, fmt.Sprint(rec["promoted_at"]))
		ends, err2 := time.Parse(time.RFC3339, fmt.Sprint(rec["overlap_ends"]))
		if err1 != nil || err2 != nil || ends.Sub(promoted) != overlap ||
			promoted.Before(first.start.Add(-time.Second)) || promoted.After(first.end.Add(time.Second)) {
			t.Fatalf("promoted_at %v, overlap_ends %v: want the first new login's time and %s after it", rec["promoted_at"], rec["overlap_ends"], overlap)
		}
		overlapEnds = ends
		// A second deploy while the overlap runs would make the copies
		// still proving generation 1 clones: Vault refuses it (409), and
		// the pipeline's step fails without touching the stored state.
		stored := filepath.Join(t.TempDir(), "stored-state")
		_, stderr, err := e.runRotateAtDeploy(t, "--", "sh", "-c", `cat > "$0"`, stored)
		if err == nil || !strings.Contains(stderr, "Code: 409") || !strings.Contains(stderr, "the stored state is unchanged") {
			t.Fatalf("a second deploy during the overlap: %v, want Vault's 409 and the store left alone\n%s", err, stderr)
		}
		if _, err := os.Stat(stored); !os.IsNotExist(err) {
			t.Fatalf("the failed rotation ran the store command: %v", err)
		}
		e.mustBeAt(t, 2, 0, 1)

		var runs []*copyRun
		for i := range copies {
			runs = append(runs,
				e.ciJob(t, fmt.Sprintf("job-old-%d", i), old), e.ciJob(t, fmt.Sprintf("job-new-%d", i), next),
				e.function(t, fmt.Sprintf("fn-old-%d", i), oldBundle), e.function(t, fmt.Sprintf("fn-new-%d", i), nextBundle))
		}
		envOld, envNew := e.functionFromEnv(t, "fn-env-old", old), e.functionFromEnv(t, "fn-env-new", next)
		runAtOnce(t, append(runs, envOld, envNew)...)
		if late := time.Since(overlapEnds); late > 0 {
			t.Logf("the batch ended %s after the overlap (%s): a failure of an old copy may be the machine's slowness", late, overlap)
		}
		envOld.mustBeInvocationOf(t, e, 1, old, next)
		envNew.mustBeInvocationOf(t, e, 2, old, next)
		for i := 0; i < len(runs); i += 4 {
			runs[i].mustBeJobOf(t, e, 1, old, next)
			runs[i+1].mustBeJobOf(t, e, 2, old, next)
			runs[i+2].mustBeInvocationOf(t, e, 1, old, next)
			runs[i+3].mustBeInvocationOf(t, e, 2, old, next)
		}
		e.mustBeClean(t)
		e.mustBeAt(t, 2, 0, 1)
	}) {
		return
	}

	if !t.Run("after the overlap the old copies are clones", func(t *testing.T) {
		time.Sleep(time.Until(overlapEnds.Add(time.Second)))
		job := run(t, e.ciJob(t, "job-old-after-overlap", old))
		job.mustFail(t, "login to Vault failed")
		job.mustNotPrint(t, e, old, next)
		if strings.Contains(job.stdout.String(), "kv:") {
			t.Fatalf("the refused job went on: %s", job.stdout.String())
		}
		e.mustReportClones(t, 1, "log")
		fn := run(t, e.function(t, "fn-old-after-overlap", oldBundle))
		fn.mustFail(t, "invocation failed")
		fn.mustNotPrint(t, e, old, next)
		e.mustReportClones(t, 2, "log")

		// clone_action=log: the new deployment is not disturbed.
		jobNew, fnNew := e.ciJob(t, "job-new-after-overlap", next), e.function(t, "fn-new-after-overlap", nextBundle)
		runAtOnce(t, jobNew, fnNew)
		jobNew.mustBeJobOf(t, e, 2, old, next)
		fnNew.mustBeInvocationOf(t, e, 2, old, next)

		// clone_action=lock (the default): a clone locks the client, and
		// the new deployment with it, until an operator unlocks it.
		e.Write(t, mount+"/role/"+role, map[string]interface{}{"clone_action": "lock"})
		run(t, e.ciJob(t, "job-old-locking", old)).mustFail(t, "login to Vault failed")
		e.mustReportClones(t, 3, "lock")
		if rec := e.clientRecord(t); rec["locked"] != true || !strings.Contains(fmt.Sprint(rec["lock_reason"]), "clone detected") {
			t.Fatalf("a clone under clone_action=lock left the client unlocked: %v", rec)
		}
		run(t, e.function(t, "fn-new-locked", nextBundle)).mustFail(t, "invocation failed")
		if n := e.clientTokens(t); n != 0 {
			t.Fatalf("%d tokens outlived the examples", n)
		}
		e.mustHaveNoDatabaseRoles(t)
	}) {
		return
	}
}

// mustBeAt checks the client's generations as Vault records them:
// current, pending (0: none) and superseded (0: none).
func (e *env) mustBeAt(t *testing.T, current, pending, superseded uint64) {
	t.Helper()
	rec := e.clientRecord(t)
	got := fmt.Sprint(rec["generation"], "/", rec["pending_generation"], "/", rec["superseded_generation"])
	if want := fmt.Sprint(current, "/", pending, "/", superseded); got != want {
		t.Fatalf("the client is at generation/pending/superseded %s, want %s", got, want)
	}
}

// mustReportClones checks that the server log holds n clone reports of
// the client, each of generation 1 after generation 2, the last one with
// the role's clone_action.
func (e *env) mustReportClones(t *testing.T, n int, action string) {
	t.Helper()
	lines := e.cloneLines(t)
	if len(lines) != n {
		t.Fatalf("%d clone reports, want %d: %v", len(lines), n, lines)
	}
	for _, l := range lines {
		if !hasLogField(l, "generation", "1") || !hasLogField(l, "current_generation", "2") {
			t.Fatalf("clone report of another generation: %s", l)
		}
	}
	if !hasLogField(lines[n-1], "clone_action", action) {
		t.Fatalf("clone report without clone_action=%s: %s", action, lines[n-1])
	}
}

// hasLogField reports whether an hclog line has key=value as a whole field.
func hasLogField(line, key, value string) bool {
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(key+"="+value) + `(\s|$)`).MatchString(line)
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
