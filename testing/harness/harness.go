// Package harness runs real parts for the end-to-end tests: a Vault server
// built from the pinned version, with this project's plugin registered from
// the catalog. It drives the project's scripts (scripts/build-vault.sh,
// scripts/build-plugin.sh, scripts/vault-server.sh,
// scripts/register-plugin.sh), so that the tests, the demo and a person at a
// terminal start Vault the same way.
//
// Environment:
//   - ENTROPY_INTEGRATION=1 turns the tests on (see Integration).
//   - VAULT_BIN is the vault binary; without it scripts/build-vault.sh
//     builds it (or finds it in its cache).
//   - ENTROPY_BIN_DIR, if set, holds already built vault-plugin-auth-entropy
//     and vault-entropy binaries (make integration-test sets it to ./bin);
//     without it they are built once per test process.
package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// rootModule is the plugin's module path. The repository root is the
// directory whose go.mod declares it: testing/ is a module of its own, so
// the nearest go.mod is not always the root's.
const rootModule = "github.com/entropy-auth/vault-plugin-auth-entropy"

// RepoRoot returns the repository root (see FindRepoRoot), failing the
// test if there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FindRepoRoot returns the repository root: the nearest directory at or
// above the working directory whose go.mod declares the plugin's module.
// It is RepoRoot for programs (testing/load/cmd/entropy-load).
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod"), rootModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("harness: no go.mod of module %s above the working directory: run from the repository", rootModule)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod at path declares module mod.
func declaresModule(path, mod string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			f := strings.Fields(name)
			return len(f) > 0 && strings.Trim(f[0], `"`) == mod
		}
	}
	return false
}

// runScript runs scripts/NAME with extra environment and returns its
// stdout, trimmed; the error carries stderr.
func runScript(env []string, name string, args ...string) (string, error) {
	root, err := FindRepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// script is runScript that fails the test on error.
func script(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runScript(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pinnedBinary is a server binary of a pinned version: the path in the
// variable env, or what scripts/script builds (or finds in its cache),
// looked up once per process.
type pinnedBinary struct {
	name, env, script string

	once sync.Once
	path string
	err  error
}

func (b *pinnedBinary) get(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		if v := os.Getenv(b.env); v != "" {
			b.path = v
			return
		}
		b.path, b.err = runScript(nil, b.script)
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", b.name, b.err)
	}
	return b.path
}

var (
	vaultBinary = &pinnedBinary{name: "Vault", env: "VAULT_BIN", script: "build-vault.sh"}

	binOnce    sync.Once
	pluginPath string
	cliPath    string
	binErr     error
)

// VaultBinary returns $VAULT_BIN, or builds (or finds cached) the pinned
// Vault with scripts/build-vault.sh, once per process.
func VaultBinary(t testing.TB) string {
	t.Helper()
	return vaultBinary.get(t)
}

// Binaries builds cmd/vault-plugin-auth-entropy and cmd/vault-entropy once
// per process (scripts/build-plugin.sh into a temporary directory) and
// returns their paths. With ENTROPY_BIN_DIR set, it returns the binaries
// there instead.
func Binaries(t testing.TB) (plugin, cli string) {
	t.Helper()
	binOnce.Do(func() {
		dir := os.Getenv("ENTROPY_BIN_DIR")
		if dir == "" {
			if dir, binErr = binDir(); binErr != nil {
				return
			}
			if dir, binErr = runScript(nil, "build-plugin.sh", dir); binErr != nil {
				return
			}
		}
		pluginPath = filepath.Join(dir, "vault-plugin-auth-entropy")
		cliPath = filepath.Join(dir, "vault-entropy")
		for _, p := range []string{pluginPath, cliPath} {
			if _, err := os.Stat(p); err != nil {
				binErr = err
			}
		}
	})
	if binErr != nil {
		t.Fatalf("building the binaries: %v", binErr)
	}
	return pluginPath, cliPath
}

// binDir makes the temporary directory for this process's binaries,
// os.TempDir()/entropy-bin-PID-*. A test binary cannot remove it when it
// exits, so each new one removes those of processes that are gone.
func binDir() (string, error) {
	for _, d := range staleDirs("entropy-bin-") {
		os.RemoveAll(d)
	}
	return os.MkdirTemp("", fmt.Sprintf("entropy-bin-%d-", os.Getpid()))
}

// Server is one running Vault server.
type Server struct {
	Dir       string      // the server's directory: config.hcl, data, plugins, vault.log, env
	Addr      string      // http://127.0.0.1:PORT
	RootToken string      // from the first start's `vault operator init`
	Client    *api.Client // uses the root token
}

// maxDirLen bounds the server directory's path. Paths under it go into
// Vault's configuration and log; keeping them short keeps them well below
// the 108-byte limit of Unix socket paths, and the log readable.
const maxDirLen = 80

// StartServer starts a Vault server (raft storage, loopback only, on a free
// port pair) in a fresh directory: t.TempDir(), or a directory under
// os.TempDir() when that path would be too long. When the test ends the
// server is stopped, and if the test failed the last 200 lines of its log go
// to the test log.
func StartServer(t testing.TB) *Server {
	t.Helper()
	vault := VaultBinary(t)
	dir := t.TempDir()
	if len(dir) > maxDirLen {
		short, err := os.MkdirTemp("", "vault-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		dir = short
	}
	s := &Server{Dir: dir}
	env := []string{"VAULT_BIN=" + vault}
	// Registered after the directory's removal, so it runs before it.
	t.Cleanup(func() {
		if _, err := runScript(env, "vault-server.sh", "stop", dir); err != nil {
			t.Errorf("stopping Vault: %v", err)
		}
		if t.Failed() {
			t.Logf("last 200 lines of %s/vault.log:\n%s", dir, tail(s.Log(t), 200))
		}
	})
	port := freePortPair(t)
	script(t, env, "vault-server.sh", "start", dir, strconv.Itoa(port))
	s.connect(t)
	return s
}

// connect reads DIR/env and makes the root client.
func (s *Server) connect(t testing.TB) {
	t.Helper()
	env, err := readEnvFile(filepath.Join(s.Dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	s.Addr, s.RootToken = env["VAULT_ADDR"], env["VAULT_TOKEN"]
	if s.Addr == "" || s.RootToken == "" {
		t.Fatalf("no VAULT_ADDR or VAULT_TOKEN in %s/env", s.Dir)
	}
	conf := api.DefaultConfig()
	if conf.Error != nil {
		t.Fatal(conf.Error)
	}
	conf.Address = s.Addr
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(s.RootToken)
	c.ClearNamespace()
	s.Client = c
}

// EnablePlugin registers the plugin in the catalog (by sha256 and version)
// and enables it at auth/MOUNT for each mount (default: entropy).
func (s *Server) EnablePlugin(t testing.TB, mounts ...string) {
	t.Helper()
	plugin, _ := Binaries(t)
	args := append([]string{s.Dir, plugin}, mounts...)
	script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "register-plugin.sh", args...)
}

// Restart stops the server gracefully (SIGTERM) and starts it again on the
// same data, then refreshes Client.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "vault-server.sh", "restart", s.Dir)
	s.connect(t)
}

// Kill ends the server and its plugin processes with SIGKILL, as a crash
// would, starts it again on the same data, and refreshes Client.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	env := []string{"VAULT_BIN=" + VaultBinary(t)}
	script(t, env, "vault-server.sh", "kill", s.Dir)
	script(t, env, "vault-server.sh", "restart", s.Dir)
	s.connect(t)
}

// Vault runs the vault CLI against the server with VAULT_ADDR and
// VAULT_TOKEN set to the server's (the env entries come after, so they
// override) and returns its stdout; on failure the error holds stderr.
func (s *Server) Vault(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(VaultBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="+s.RootToken), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vault %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Log returns the server log so far (DIR/vault.log: every start of this
// server, and what the plugin logged).
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
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server a test starts (PostgreSQL, MinIO, Vault Agent's listener).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
