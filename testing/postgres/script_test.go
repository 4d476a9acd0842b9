package postgres

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// runPGScript runs scripts/postgres.sh with args and extra environment and
// returns its exit code and stderr.
func runPGScript(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(harness.RepoRoot(t), "scripts", "postgres.sh"), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("running scripts/postgres.sh: %v", err)
	return 0, ""
}

// TestScriptLifecycle: the server listens on loopback with passwords
// required on TCP and on the socket alike, stop leaves no process and no
// listener, a second stop and a stop of nothing succeed, a second start
// is refused, and a start on the same DIR brings the same cluster back
// (its data, its port, its admin password).
func TestScriptLifecycle(t *testing.T) {
	harness.Integration(t)
	pg := harness.StartPostgres(t)
	pg.Admin(t, "CREATE TABLE kept (x integer); INSERT INTO kept VALUES (7);")

	info, err := os.Stat(filepath.Join(pg.Dir, "admin.env"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("admin.env: %v, %v (want mode 0600)", info, err)
	}
	if got := pg.Admin(t, "SELECT current_setting('listen_addresses') || ' ' || current_setting('unix_socket_directories')"); got != "127.0.0.1 "+pg.Dir+"/run" {
		t.Fatalf("listen_addresses and socket directory: %q", got)
	}
	if pg.Admin(t, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") != "t" {
		t.Fatal("the admin role is not a superuser")
	}
	// A wrong password is refused over TCP and over the socket.
	for _, host := range []string{pg.Host, pg.Dir + "/run"} {
		sock := *pg
		sock.Host = host
		if _, err := sock.Psql(pg.AdminUser, "wrong", "SELECT 1"); !isAuthFailure(err) {
			t.Errorf("a wrong password through %s: %v", host, err)
		}
	}

	if code, out := runPGScript(t, nil, "start", pg.Dir, strconv.Itoa(pg.Port)); code != 1 || !strings.Contains(out, "already running") {
		t.Fatalf("a second start: exit %d: %s", code, out)
	}

	procs := pg.Processes()
	if len(procs) < 2 {
		t.Fatalf("processes before stop: %v (want the postmaster and its workers)", procs)
	}
	// Stop fails the test if any of them still runs (an exited process
	// may linger a moment as a zombie until its new parent reaps it).
	pg.Stop(t)
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), time.Second); err == nil {
		c.Close()
		t.Fatal("the port still accepts connections after stop")
	}
	if pg.PID() != 0 {
		t.Fatal("postmaster.pid left after stop")
	}
	if code, out := runPGScript(t, nil, "stop", pg.Dir); code != 0 || !strings.Contains(out, "not running") {
		t.Fatalf("a second stop: exit %d: %s", code, out)
	}

	// Started again with another port on the command line, the cluster
	// keeps its own: admin.env stays right.
	if code, out := runPGScript(t, nil, "start", pg.Dir, strconv.Itoa(harness.FreePort(t))); code != 0 || !strings.Contains(out, "reusing the cluster's port") {
		t.Fatalf("start again: exit %d: %s", code, out)
	}
	if got := pg.Admin(t, "SELECT x FROM kept"); got != "7" {
		t.Fatalf("data after a restart: %q", got)
	}
	// StartPostgres's cleanup stops it again.
}

// TestScriptRefusesBadInput: bad arguments and a missing PostgreSQL give
// a clear message and a non-zero exit, and create or take over nothing.
func TestScriptRefusesBadInput(t *testing.T) {
	harness.Integration(t)
	base := t.TempDir()
	busy := filepath.Join(base, "busy")
	must(t, os.MkdirAll(busy, 0o755))
	must(t, os.WriteFile(filepath.Join(busy, "someone's.txt"), []byte("x"), 0o644))
	noPG := filepath.Join(base, "empty-bin")
	must(t, os.Mkdir(noPG, 0o755))
	fresh := filepath.Join(base, "fresh")

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no arguments", nil, nil, 2, "usage:"},
		{"unknown command", nil, []string{"restart", fresh}, 2, "usage:"},
		{"start without a port", nil, []string{"start", fresh}, 2, "usage:"},
		{"port not a number", nil, []string{"start", fresh, "54x"}, 2, "PORT must be a number"},
		{"port zero", nil, []string{"start", fresh, "0"}, 2, "PORT must be 1-65535"},
		{"port too large", nil, []string{"start", fresh, "65536"}, 2, "PORT must be 1-65535"},
		{"directory with other files", nil, []string{"start", busy, "5432"}, 1, "neither empty nor"},
		{"PostgreSQL not installed", []string{"PG_BIN=" + noPG}, []string{"start", fresh, "5432"}, 1, "apt-get install postgresql"},
		{"stop of a directory that does not exist", nil, []string{"stop", fresh}, 0, "nothing to stop"},
		{"stop of a directory with no server", nil, []string{"stop", busy}, 0, "not running"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runPGScript(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, tc.code, tc.want, out)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Fatalf("%s was created: %v", fresh, err)
			}
			// The busy directory is neither taken over nor changed.
			entries, err := os.ReadDir(busy)
			if err != nil || len(entries) != 1 {
				t.Fatalf("%s changed: %v, %v", busy, entries, err)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(busy, &st); err != nil || int(st.Uid) != os.Getuid() {
				t.Fatalf("%s changed owner: uid %d, %v", busy, st.Uid, err)
			}
		})
	}
}
