package harness

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/proc"
)

// readEnvFile reads a file of `export NAME=VALUE` lines as the scripts
// write them (DIR/env, root.env, admin.env: printf %q, whose quoting the
// scripts' values never need beyond a pair of quotes, which are dropped).
// Other lines are skipped; a later NAME wins.
func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	return env, nil
}

// staleDirs returns the directories os.TempDir()/PREFIX<PID>-* whose test
// process PID is gone: each test process names its directories with its
// own pid, and one killed (by -timeout) cannot remove them. A live pid
// keeps its directories, even if the pid was reused: better left behind
// than removed under a running test.
func staleDirs(prefix string) []string {
	var stale []string
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*-*"))
	for _, d := range old {
		p, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), prefix), "-")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		// Still running, or the pid was reused: leave it. EPERM means a
		// process of another user holds the pid: alive too.
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue
		}
		stale = append(stale, d)
	}
	return stale
}

// reapStale stops the servers and removes the directories that earlier
// test processes left (staleDirs(prefix)): a test binary killed by
// -timeout exits without running its cleanups, and its server, detached in
// its own session, would run on. Only a directory that holds nothing but
// names (the files scripts/SCRIPT makes) is touched, and it is removed
// only once `SCRIPT stop DIR` succeeded.
func reapStale(prefix, script string, names ...string) {
next:
	for _, d := range staleDirs(prefix) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !slices.Contains(names, e.Name()) {
				continue next // not only what the script makes: not ours to remove
			}
		}
		if _, err := runScript(nil, script, "stop", d); err == nil {
			os.RemoveAll(d)
		}
	}
}

// portAttempts bounds the starts of a server on a FreePort port: another
// process may take the port between FreePort and the server's bind.
const portAttempts = 3

// startOnFreePort calls start with a fresh FreePort port until it
// succeeds, fails for another reason than a taken port (start's taken), or
// failed portAttempts times; then it fails the test with the last error.
func startOnFreePort(t testing.TB, what string, start func(port int) (taken bool, err error)) {
	t.Helper()
	var err error
	for range portAttempts {
		port := FreePort(t)
		var taken bool
		if taken, err = start(port); err == nil {
			return
		}
		if !taken {
			break // retrying would fail the same way
		}
		t.Logf("port %d was taken meanwhile; trying another", port)
	}
	t.Fatalf("starting %s: %v", what, err)
}

// processRuns reports whether pid runs; a zombie (exited, not yet reaped
// by its parent) does not count. Without procfs, kill -0 decides.
func processRuns(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := proc.ReadStat(pid)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return st.State != "Z"
}

// PID is the server's pid, from DIR/vault.pid (scripts/vault-server.sh
// writes it while the server runs).
func (s *Server) PID(t testing.TB) int {
	t.Helper()
	pid, err := proc.ReadPIDFile(filepath.Join(s.Dir, "vault.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
