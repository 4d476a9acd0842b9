package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/proc"
)

// Postgres is one PostgreSQL server run by scripts/postgres.sh: Debian's
// packaged server on 127.0.0.1:Port, its data, socket and log in Dir,
// password authentication for every connection.
type Postgres struct {
	Dir  string // data/, run/ (the socket), postgres.log, admin.env
	Host string // 127.0.0.1
	Port int
	// AdminUser is a superuser; AdminPassword is its random password, from
	// DIR/admin.env. Never log it.
	AdminUser     string
	AdminPassword string
	Bin           string // the bin directory of the server's version (psql, pg_isready)
}

// StartPostgres starts a PostgreSQL server with scripts/postgres.sh in a
// fresh directory os.TempDir()/entropy-pg-PID-* (not t.TempDir(): as root
// the server runs as the postgres user, which must reach the directory,
// and t.TempDir()'s parent is private to the test's user). When the test ends,
// failed or not, the server is stopped, the test fails if its postmaster
// survives, and the directory is removed; if the test failed, the end of
// the server log goes to the test log.
//
// PostgreSQL must be installed (apt-get install postgresql): without it the
// test fails with the script's message rather than skipping, so that a
// machine missing the package cannot pass quietly.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	pgReapOnce.Do(func() {
		reapStale(pgDirPrefix, "postgres.sh", "data", "run", "postgres.log", "admin.env", "admin.env.tmp", ".initdb-pw")
	})
	var p *Postgres
	startOnFreePort(t, "PostgreSQL", func(port int) (bool, error) {
		// A fresh directory each time: the failed start's holds a cluster
		// initialized for the taken port.
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", pgDirPrefix, os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		try := &Postgres{Dir: dir, Host: "127.0.0.1", Port: port}
		p = try
		// Registered first, so it runs after the stop below.
		t.Cleanup(func() { os.RemoveAll(dir) })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("last 60 lines of %s/postgres.log:\n%s", dir, tail(try.Log(t), 60))
			}
			try.Stop(t)
		})
		_, err = runScript(nil, "postgres.sh", "start", dir, strconv.Itoa(port))
		return err != nil && strings.Contains(try.Log(t), "could not bind"), err
	})
	p.readAdminEnv(t)
	return p
}

// pgDirPrefix starts the name of each server's directory in os.TempDir(),
// followed by the test process's pid.
const pgDirPrefix = "entropy-pg-"

var pgReapOnce sync.Once

// readAdminEnv reads the admin role and the bin directory from
// DIR/admin.env (lines `export NAME=VALUE`, as printf %q quotes them).
func (p *Postgres) readAdminEnv(t testing.TB) {
	t.Helper()
	env, err := readEnvFile(filepath.Join(p.Dir, "admin.env"))
	if err != nil {
		t.Fatal(err)
	}
	p.AdminUser, p.AdminPassword, p.Bin = env["PGUSER"], env["PGPASSWORD"], env["PG_BIN"]
	if port, err := strconv.Atoi(env["PGPORT"]); err == nil && port != p.Port {
		t.Fatalf("admin.env says port %d, the server was started on %d", port, p.Port)
	}
	if p.AdminUser == "" || p.AdminPassword == "" || p.Bin == "" {
		t.Fatalf("%s/admin.env lacks PGUSER, PGPASSWORD or PG_BIN", p.Dir)
	}
}

// Stop stops the server (scripts/postgres.sh stop: a fast shutdown) and
// fails the test if its postmaster or any of its backends still runs.
// Stopping a stopped server is fine: StartPostgres's cleanup calls it again.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	procs := p.Processes()
	if _, err := runScript(nil, "postgres.sh", "stop", p.Dir); err != nil {
		t.Errorf("stopping PostgreSQL: %v", err)
	}
	for _, pid := range procs {
		if processRuns(pid) {
			t.Errorf("PostgreSQL process %d still runs after stop", pid)
		}
	}
}

// PID is the postmaster's pid from DIR/data/postmaster.pid, 0 when there
// is none.
func (p *Postgres) PID() int {
	pid, err := proc.ReadPIDFile(filepath.Join(p.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	return pid
}

// Processes returns the running postmaster and its children (backends,
// background workers), so that a test can check that none outlives Stop.
func (p *Postgres) Processes() []int {
	postmaster := p.PID()
	if postmaster == 0 || !processRuns(postmaster) {
		return nil
	}
	pids := []int{postmaster}
	for _, c := range proc.Children(postmaster) {
		pids = append(pids, c.PID)
	}
	return pids
}

// Log returns DIR/postgres.log (initdb's output and the server's log).
func (p *Postgres) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Dir, "postgres.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Logf("reading the PostgreSQL log: %v", err)
	}
	return string(b)
}

// ConnectionURL is the connection_url for Vault's database/config: TCP to
// the loopback port, with Vault's {{username}} and {{password}}
// placeholders (Vault fills them in, so no secret is in the URL).
func (p *Postgres) ConnectionURL() string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable", p.Host, p.Port)
}

// Command is psql (from the server's own bin directory) connected over TCP
// to database postgres as user, with args after the connection options.
// The password goes in PGPASSWORD, never in the argument list, and every
// other PG* variable of the test's environment is dropped so that nothing
// of the machine's (a PGSERVICE, a PGHOST) changes where it connects.
// psql reads no ~/.psqlrc (-X), stops at the first error, and reports
// errors tersely: without the "LINE 1: ..." quote of the statement, which
// could hold a password.
func (p *Postgres) Command(ctx context.Context, user, password string, args ...string) *exec.Cmd {
	base := []string{"-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse", "-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", user, "-d", "postgres"}
	cmd := exec.CommandContext(ctx, filepath.Join(p.Bin, "psql"), append(base, args...)...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PGPASSWORD="+password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=5", "PGAPPNAME=entropy-e2e")
	return cmd
}

// Psql runs sql (on stdin, so that a password in it is never in an
// argument list) as user and returns the rows, unaligned and without
// headers ("a|b" per row), trimmed. The error holds psql's stderr, which
// names the failure ("password authentication failed for user ...")
// without the password.
func (p *Postgres) Psql(user, password, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := p.Command(ctx, user, password, "-q", "-A", "-t", "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("psql as %s: %v: %s", user, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Admin runs sql as the admin role and fails the test on error.
func (p *Postgres) Admin(t testing.TB, sql string) string {
	t.Helper()
	out, err := p.Psql(p.AdminUser, p.AdminPassword, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
