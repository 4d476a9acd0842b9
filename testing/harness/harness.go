// Package harness runs real parts for the end-to-end tests: a Vault server
// built from the pinned version, with this project's plugin registered from
// the catalog. It drives the project's scripts (scripts/vault-server.sh,
// scripts/register-plugin.sh, ...), so that the tests and the demo start
// Vault the same way.
package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// IntegrationEnv is the variable that turns the end-to-end tests on.
const IntegrationEnv = "ENTROPY_INTEGRATION"

// Integration skips the test unless ENTROPY_INTEGRATION=1 (set by
// `make integration-test` and `make test`).
func Integration(t testing.TB) {
	t.Helper()
	if os.Getenv(IntegrationEnv) != "1" {
		t.Skipf("end-to-end test against a real Vault: run with %s=1 (make integration-test)", IntegrationEnv)
	}
}

// RepoRoot returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// script runs one of the project's scripts with extra environment and
// returns its stdout; stderr goes to the test log on failure.
func script(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(t), "scripts", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

var (
	vaultOnce sync.Once
	vaultBin  string

	binOnce    sync.Once
	binDir     string
	binDirErr  string
	pluginPath string
	cliPath    string
)

// VaultBinary returns $VAULT_BIN, or builds (or finds cached) the pinned
// Vault with scripts/build-vault.sh, once per process.
func VaultBinary(t testing.TB) string {
	t.Helper()
	vaultOnce.Do(func() {
		if v := os.Getenv("VAULT_BIN"); v != "" {
			vaultBin = v
			return
		}
		vaultBin = script(t, nil, "build-vault.sh")
	})
	if vaultBin == "" {
		t.Fatal("no Vault binary")
	}
	return vaultBin
}

// Binaries builds cmd/vault-plugin-auth-entropy and cmd/vault-entropy once
// per process and returns their paths.
func Binaries(t testing.TB) (plugin, cli string) {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "entropy-bin-")
		if err != nil {
			binDirErr = err.Error()
			return
		}
		binDir = script(t, nil, "build-plugin.sh", dir)
		pluginPath = filepath.Join(binDir, "vault-plugin-auth-entropy")
		cliPath = filepath.Join(binDir, "vault-entropy")
	})
	if pluginPath == "" {
		t.Fatalf("building the binaries failed %s", binDirErr)
	}
	return pluginPath, cliPath
}

// Server is one running Vault server.
type Server struct {
	Dir       string // config, data, log, env, plugins
	Addr      string // http://127.0.0.1:PORT
	RootToken string
	Client    *api.Client // uses the root token
}

// StartServer starts a Vault server (raft storage, loopback) in a fresh
// directory and stops it when the test ends. When the test failed, the tail
// of the server log goes to the test log.
func StartServer(t testing.TB) *Server {
	t.Helper()
	vault := VaultBinary(t)
	// Raft and the plugin use Unix sockets, whose paths are short; t.TempDir
	// can be too deep for them.
	dir, err := os.MkdirTemp("", "vault-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir}
	port := freePortPair(t)
	env := []string{"VAULT_BIN=" + vault}
	t.Cleanup(func() {
		script(t, env, "vault-server.sh", "stop", dir)
		if t.Failed() {
			t.Logf("last lines of %s/vault.log:\n%s", dir, tail(s.Log(t), 200))
		}
		os.RemoveAll(dir)
	})
	script(t, env, "vault-server.sh", "start", dir, fmt.Sprint(port))
	s.connect(t)
	return s
}

// connect reads DIR/env and makes the root client.
func (s *Server) connect(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `'"`)
		switch k {
		case "VAULT_ADDR":
			s.Addr = v
		case "VAULT_TOKEN":
			s.RootToken = v
		}
	}
	conf := api.DefaultConfig()
	conf.Address = s.Addr
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(s.RootToken)
	s.Client = c
}

// EnablePlugin registers the plugin from the catalog and enables it at
// auth/<mount> for each mount (default: entropy).
func (s *Server) EnablePlugin(t testing.TB, mounts ...string) {
	t.Helper()
	plugin, _ := Binaries(t)
	args := append([]string{s.Dir, plugin}, mounts...)
	script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "register-plugin.sh", args...)
}

// Restart stops the server gracefully and starts it again on the same data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "vault-server.sh", "restart", s.Dir)
	s.connect(t)
}

// Kill ends the server with SIGKILL, as a crash would, and starts it again
// on the same data.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	env := []string{"VAULT_BIN=" + VaultBinary(t)}
	script(t, env, "vault-server.sh", "kill", s.Dir)
	script(t, env, "vault-server.sh", "restart", s.Dir)
	s.connect(t)
}

// Vault runs the vault CLI against the server as root (env entries are
// appended, so they override) and returns its stdout; on failure the error
// holds stderr.
func (s *Server) Vault(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(VaultBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="+s.RootToken), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vault %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Log returns the server log so far.
func (s *Server) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "vault.log"))
	if err != nil {
		t.Logf("reading the server log: %v", err)
	}
	return string(b)
}

// freePortPair finds a loopback port whose successor (the cluster port) is
// free too.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l.Close()
		if err == nil {
			l2.Close()
			return port
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no free loopback port pair")
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
