package ephemeral

// Running the examples: the CI job's script with a CI system's
// environment, the function's binary as a runtime starts it, one process
// per copy, many at once.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// runTimeout bounds one copy's run: a job or an invocation takes about a
// second here.
const runTimeout = time.Minute

// copyRun is one run of an example: one CI job, or one invocation of the
// function.
type copyRun struct {
	name  string
	cmd   *exec.Cmd
	stdin string // written once every copy of a batch has started

	stdinW         io.WriteCloser
	stdout, stderr strings.Builder
	start, end     time.Time
	err            error
}

// baseEnv is the environment of a copy: the test's, without what would
// change where the examples connect or which token they use (VAULT_*,
// PG*), with the tools first on PATH.
func (e *env) baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PATH="+e.tools+string(os.PathListSeparator)+os.Getenv("PATH"), "VAULT_ADDR="+e.Addr)
}

// ciJob is a run of docs/examples/ci-job.sh with the state in
// VAULT_ENTROPY_STATE, as a CI system hands it a secret, and the database
// to query.
func (e *env) ciJob(t *testing.T, name, state string) *copyRun {
	t.Helper()
	env := e.baseEnv()
	if state != "" {
		env = append(env, client.StateEnv+"="+state)
	}
	env = append(env,
		"PGHOST="+e.pg.Host, fmt.Sprintf("PGPORT=%d", e.pg.Port), "PGDATABASE=postgres", "PGSSLMODE=disable",
		"DB_QUERY=SELECT item FROM inventory WHERE id = 1")
	return e.newRun(t, name, env, "", "bash", filepath.Join(harness.RepoRoot(t), "docs", "examples", "ci-job.sh"))
}

// function is one invocation of docs/examples/serverless: a process
// started cold, from the state file bundled read-only, with its event on
// stdin.
func (e *env) function(t *testing.T, name, bundled string) *copyRun {
	t.Helper()
	env := append(e.baseEnv(), "ENTROPY_STATE_FILE="+bundled)
	return e.newRun(t, name, env, fmt.Sprintf(`{"request_id": %q}`, name), serverlessBinary(t))
}

// functionFromEnv is function with the state in the function's
// configuration, VAULT_ENTROPY_STATE, in place of a bundled file.
func (e *env) functionFromEnv(t *testing.T, name, state string) *copyRun {
	t.Helper()
	env := append(e.baseEnv(), client.StateEnv+"="+state)
	return e.newRun(t, name, env, fmt.Sprintf(`{"request_id": %q}`, name), serverlessBinary(t))
}

func (e *env) newRun(t *testing.T, name string, env []string, stdin string, argv ...string) *copyRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	t.Cleanup(cancel)
	r := &copyRun{name: name, cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), stdin: stdin}
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	return r
}

// runAtOnce starts every copy, then hands each its input, and waits for
// all: the copies run at once, as parallel jobs and function instances
// do. It checks that they did (every copy started before any ended).
func runAtOnce(t *testing.T, runs ...*copyRun) {
	t.Helper()
	for _, r := range runs {
		r.begin(t)
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(r.finish)
	}
	wg.Wait()
	for _, r := range runs {
		t.Logf("%s: %s, %v", r.name, r.end.Sub(r.start).Round(time.Millisecond), r.err)
	}
	if len(runs) > 1 {
		var lastStart, firstEnd time.Time
		for i, r := range runs {
			if i == 0 || r.start.After(lastStart) {
				lastStart = r.start
			}
			if i == 0 || r.end.Before(firstEnd) {
				firstEnd = r.end
			}
		}
		if !lastStart.Before(firstEnd) {
			t.Fatalf("the copies did not run at once: one ended %s before the last started", lastStart.Sub(firstEnd))
		}
	}
}

// begin starts the copy, its input held back until finish.
func (r *copyRun) begin(t *testing.T) {
	t.Helper()
	w, err := r.cmd.StdinPipe()
	must(t, err)
	r.stdinW = w
	r.start = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
}

// finish hands the copy its input and waits for it to end.
func (r *copyRun) finish() {
	io.WriteString(r.stdinW, r.stdin)
	r.stdinW.Close()
	r.err = r.cmd.Wait()
	r.end = time.Now()
}

// run runs one copy on its own.
func run(t *testing.T, r *copyRun) *copyRun {
	t.Helper()
	runAtOnce(t, r)
	return r
}

// mustSucceed checks that a copy exited 0 with nothing on stderr: no
// warning, and no note of a generation it could not keep (a read-only
// state is never handed one that is issued out of band, nor during an
// overlap).
func (r *copyRun) mustSucceed(t *testing.T) {
	t.Helper()
	if r.err != nil || r.stderr.Len() != 0 {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", r.name, r.err, r.stdout.String(), r.stderr.String())
	}
}

// mustFail checks that a copy exited non-zero, with want on its stderr.
func (r *copyRun) mustFail(t *testing.T, want string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("%s succeeded, want a failure\nstdout:\n%s", r.name, r.stdout.String())
	}
	if !strings.Contains(r.stderr.String(), want) {
		t.Fatalf("%s: stderr lacks %q:\n%s", r.name, want, r.stderr.String())
	}
}

// mustNotPrint checks that neither output holds a secret: the state's
// entropy (a piece of its encoding), a token, or the KV value.
func (r *copyRun) mustNotPrint(t *testing.T, e *env, states ...string) {
	t.Helper()
	secrets := []string{"hvs.", e.kvValue}
	for _, s := range states {
		// The entropy part, after the last dot of "ves1.<header>.<entropy>".
		entropy := s[strings.LastIndex(s, ".")+1:]
		secrets = append(secrets, entropy[:32], entropy[len(entropy)-32:])
	}
	for _, out := range []string{r.stdout.String(), r.stderr.String()} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("%s printed a secret (%d bytes of it)", r.name, len(s))
			}
		}
	}
}

// mustBeJobOf checks a CI job's log: it logged in with generation gen,
// read the KV secret and database credentials, and queried the database
// with them.
func (r *copyRun) mustBeJobOf(t *testing.T, e *env, gen uint64, states ...string) {
	t.Helper()
	r.mustSucceed(t)
	r.mustNotPrint(t, e, states...)
	want := []string{
		fmt.Sprintf("vault: logged in as %s/%s, generation %d", role, clientID, gen),
		fmt.Sprintf("kv: read %s/%s version 1", kvMount, kvPath),
		fmt.Sprintf("database: credentials from %s for %ds", credsPath, mustSeconds(t, dbTTL)),
		"database: query returned " + knownRow,
		"ci-job: done",
	}
	if got := strings.Split(strings.TrimSpace(r.stdout.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s printed:\n%s\nwant:\n%s\nstderr:\n%s", r.name, r.stdout.String(), strings.Join(want, "\n"), r.stderr.String())
	}
}

// mustBeInvocationOf checks a function invocation's answer: its request,
// the generation its login proved, the secret's version.
func (r *copyRun) mustBeInvocationOf(t *testing.T, e *env, gen uint64, states ...string) {
	t.Helper()
	r.mustSucceed(t)
	r.mustNotPrint(t, e, states...)
	var res struct {
		RequestID     string `json:"request_id"`
		Generation    string `json:"generation"`
		SecretVersion int    `json:"secret_version"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("%s: its answer %q: %v", r.name, r.stdout.String(), err)
	}
	if res.RequestID != r.name || res.Generation != fmt.Sprint(gen) || res.SecretVersion != 1 {
		t.Fatalf("%s answered %+v, want request %s, generation %d, secret version 1", r.name, res, r.name, gen)
	}
}

func mustSeconds(t *testing.T, d string) int {
	t.Helper()
	v, err := time.ParseDuration(d)
	must(t, err)
	return int(v.Seconds())
}

var (
	serverlessOnce sync.Once
	serverlessDir  string
	serverlessPath string
	serverlessErr  error
)

// TestMain removes the serverless example's binary when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if serverlessDir != "" {
		os.RemoveAll(serverlessDir)
	}
	os.Exit(code)
}

// serverlessBinary builds docs/examples/serverless once per test process,
// as a function's build step would.
func serverlessBinary(t *testing.T) string {
	t.Helper()
	serverlessOnce.Do(func() {
		serverlessDir, serverlessErr = os.MkdirTemp("", "entropy-serverless-")
		if serverlessErr != nil {
			return
		}
		serverlessPath = filepath.Join(serverlessDir, "serverless")
		cmd := exec.Command("go", "build", "-o", serverlessPath, "./docs/examples/serverless")
		cmd.Dir = harness.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			serverlessErr = fmt.Errorf("go build ./docs/examples/serverless: %v\n%s", err, out)
		}
	})
	if serverlessErr != nil {
		t.Fatal(serverlessErr)
	}
	return serverlessPath
}
