package vaultagent

// Helpers of the Vault Agent tests (vaultagent_test.go): the server and
// its client, the two agents and their files, the checks on their logs,
// and a state for a Vault that is not there.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// env is one Vault with the plugin, a KV v2 secret the role's policy may
// read, and one enrolled client.
type env struct {
	*harness.Server
	dir      string // for the agents' files
	state    string
	clientID string
}

const (
	secretPath = "secret/data/app"
	appPolicy  = `path "secret/data/app" { capabilities = ["read"] }`
)

// newEnv starts Vault and sets up role web: tokens with the given TTL and
// max TTL (short, so that re-logins happen within the test), entropy
// rotated at every login (rotation_period=1s).
func newEnv(t *testing.T, ttl, maxTTL string) *env {
	t.Helper()
	harness.Integration(t)
	s := harness.StartServer(t)
	s.EnablePlugin(t)
	if err := s.Client.Sys().MountWithContext(t.Context(), "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicyWithContext(t.Context(), "app-read", appPolicy); err != nil {
		t.Fatal(err)
	}
	e := &env{Server: s, dir: t.TempDir()}
	e.putSecret(t, "v1")
	// serverLog counts accepted logins from their log lines.
	s.Write(t, "auth/entropy/config", map[string]interface{}{"log_accepted_logins": true})
	s.Write(t, "auth/entropy/role/web", map[string]interface{}{
		"token_policies": "app-read", "rotation_period": "1s", "token_ttl": ttl, "token_max_ttl": maxTTL,
	})
	e.state = s.Enroll(t, "auth/entropy", "web", "")
	st, err := client.LoadState(e.state)
	if err != nil {
		t.Fatal(err)
	}
	e.clientID = st.ClientID
	return e
}

func (e *env) putSecret(t *testing.T, value string) {
	t.Helper()
	e.Write(t, secretPath, map[string]interface{}{"data": map[string]interface{}{"value": value}})
}

// record reads the client's record: its generation and whether it is
// locked.
func (e *env) record(t *testing.T) (generation uint64, locked bool) {
	t.Helper()
	sec, err := e.Client.Logical().ReadWithContext(t.Context(), "auth/entropy/role/web/client/"+e.clientID)
	if err != nil || sec == nil {
		t.Fatalf("reading the client: %v", err)
	}
	g, err := sec.Data["generation"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	locked, _ = sec.Data["locked"].(bool)
	return uint64(g), locked
}

// serverLog counts the server log's lines about this client: logins
// accepted and refused. It also fails the test on a clone detected.
func (e *env) serverLog(t *testing.T) (accepted, refused int) {
	t.Helper()
	for _, line := range strings.Split(e.Log(t), "\n") {
		if strings.Contains(strings.ToLower(line), "clone") && strings.Contains(line, "[ERROR]") {
			t.Fatalf("the server detected a clone: %s", line)
		}
		if !strings.Contains(line, "client_id="+e.clientID) {
			continue
		}
		switch {
		case strings.Contains(line, "login accepted"):
			accepted++
		case strings.Contains(line, "login refused"):
			refused++
		}
	}
	return accepted, refused
}

// checkNoClone: the client was never locked (a clone locks it) and the
// server saw no clone.
func (e *env) checkNoClone(t *testing.T) {
	t.Helper()
	if _, locked := e.record(t); locked {
		t.Fatal("the client is locked")
	}
	e.serverLog(t)
}

// entropyAgent is a running `vault-entropy agent`.
type entropyAgent struct {
	cmd  *exec.Cmd
	log  string // its stderr
	done chan error
}

// agentEnv is the environment of the processes the tests start: the test
// process's, without any VAULT_ variable (a developer's VAULT_TOKEN must
// not leak in), plus VAULT_ADDR.
func agentEnv(addr string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			out = append(out, kv)
		}
	}
	return append(out, "VAULT_ADDR="+addr)
}

// startEntropyAgent starts `vault-entropy agent args...` against addr, its
// log in dir/vault-entropy.log.
func startEntropyAgent(t *testing.T, dir, addr string, args ...string) *entropyAgent {
	t.Helper()
	_, cli := harness.Binaries(t)
	a := &entropyAgent{log: filepath.Join(dir, "vault-entropy.log"), done: make(chan error, 1)}
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	a.cmd = exec.Command(cli, append([]string{"agent"}, args...)...)
	a.cmd.Env = agentEnv(addr)
	a.cmd.Stderr, a.cmd.Stdout = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			// The log holds no token or proof, by design (checked below).
			t.Logf("vault-entropy agent log:\n%s", a.logText(t))
		}
	})
	return a
}

func (a *entropyAgent) logText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(a.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stop sends SIGTERM and checks that the agent exits 0 within 5 s.
func (a *entropyAgent) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("vault-entropy agent exited with %v on SIGTERM", err)
		}
		a.done <- nil // for the cleanup
		t.Logf("vault-entropy agent stopped in %s", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("vault-entropy agent did not stop within 5 s of SIGTERM")
	}
	if !strings.Contains(a.logText(t), "stopping;") {
		t.Fatalf("no stop logged")
	}
}

// startVaultAgent writes the configuration and starts `vault agent` with
// scripts/vault-agent.sh in dir, stopped when the test ends. (VAULT_ADDR
// would override the configuration's address, even when empty: it is set
// to the same.)
func startVaultAgent(t *testing.T, dir, addr, config string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(harness.RepoRoot(t), "scripts", "vault-agent.sh")
	run := func(args ...string) error {
		cmd := exec.Command(script, args...)
		cmd.Env = append(agentEnv(addr), "VAULT_BIN="+harness.VaultBinary(t))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("scripts/vault-agent.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		if err := run("stop", dir); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
			t.Logf("vault agent log:\n%s", b)
		}
	})
	if err := run("start", dir, filepath.Join(dir, "agent.hcl")); err != nil {
		t.Fatal(err)
	}
}

// agentConfig is a Vault Agent configuration: method is the auto_auth
// method block (and any auto_auth settings); a file sink and a template
// of the KV secret's value, re-rendered every second.
func agentConfig(addr, dir, method string) string {
	return fmt.Sprintf(`vault {
  address = %q
}

auto_auth {
%s
  sink "file" {
    config = {
      path = %q
    }
  }
}

template_config {
  static_secret_render_interval = "1s"
}

template {
  contents    = "{{ with secret \"secret/data/app\" }}{{ .Data.data.value }}{{ end }}"
  destination = %q
}
`, addr, method, filepath.Join(dir, "agent-token"), filepath.Join(dir, "rendered"))
}

func rendered(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "rendered"))
	return string(b)
}

// waitRendered waits until the template shows value.
func waitRendered(t *testing.T, dir, value string) {
	t.Helper()
	harness.WaitFor(t, 20*time.Second, "the template to render "+value, func() bool { return rendered(dir) == value })
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// tokens collects the distinct contents a token file has had.
type tokens struct {
	path string
	seen []string
}

func (k *tokens) poll() int {
	b, err := os.ReadFile(k.path)
	if err == nil && len(b) > 0 && (len(k.seen) == 0 || k.seen[len(k.seen)-1] != string(b)) {
		k.seen = append(k.seen, string(b))
	}
	return len(k.seen)
}

// checkLogClean fails if any secret the test saw reached a log.
func checkLogClean(t *testing.T, log string, secrets []string) {
	t.Helper()
	for i, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Fatalf("secret %d of %d is in the vault-entropy agent log", i+1, len(secrets))
		}
	}
	if strings.Contains(log, "hvs.") || strings.Contains(log, "hvb.") {
		t.Fatal("a token is in the vault-entropy agent log")
	}
}

// offlineState writes a state for a client of a Vault that is not there.
func offlineState(t *testing.T) string {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	entropy := make([]byte, 4096)
	rand.Read(entropy)
	raw, _ := json.Marshal(map[string]interface{}{
		"bundle_version": 1, "mount_path": "auth/entropy", "role": "web", "client_id": "offline-1", "generation": 1,
		"entropy": base64.StdEncoding.EncodeToString(entropy), "sample_count": 8, "sample_length": 32,
		"server_keys": []map[string]interface{}{{"key_id": sk.Public().ID().String(), "suite": sk.Public().Suite().String(),
			"public_key": base64.StdEncoding.EncodeToString(sk.Public().Bytes()), "current": true}},
	})
	st, err := client.StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}
