package integration

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// env is one running Vault with the plugin mounted and a KV secret that
// the role's policy allows, next to one it does not.
type env struct {
	*harness.Server
	cli string // the vault-entropy binary
}

const (
	allowedSecret   = "secret/data/web/config"
	forbiddenSecret = "secret/data/other/config"
	webPolicy       = `path "secret/data/web/*" { capabilities = ["read"] }`
)

func newEnv(t *testing.T, mounts ...string) *env {
	t.Helper()
	return startEnv(t, func(t *testing.T) *harness.Server { return harness.StartServer(t) }, mounts...)
}

// newRawEnv is newEnv on a server with sys/raw enabled
// (harness.StartRawServer), for a test that reads the mount's storage with
// MountStorage. It sets the test's environment: the test must not be
// parallel.
func newRawEnv(t *testing.T, mounts ...string) *env {
	t.Helper()
	return startEnv(t, harness.StartRawServer, mounts...)
}

func startEnv(t *testing.T, start func(*testing.T) *harness.Server, mounts ...string) *env {
	t.Helper()
	harness.Integration(t)
	_, cli := harness.Binaries(t)
	s := start(t)
	s.EnablePlugin(t, mounts...)
	e := &env{Server: s, cli: cli}
	must(t, s.Client.Sys().MountWithContext(t.Context(), "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	must(t, s.Client.Sys().PutPolicyWithContext(t.Context(), "web-read", webPolicy))
	e.write(t, allowedSecret, map[string]interface{}{"data": map[string]interface{}{"password": "allowed"}})
	e.write(t, forbiddenSecret, map[string]interface{}{"data": map[string]interface{}{"password": "forbidden"}})
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// write runs a write as root and returns its data.
func (e *env) write(t *testing.T, path string, data map[string]interface{}) *api.Secret {
	t.Helper()
	s, err := e.Client.Logical().WriteWithContext(t.Context(), path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

// enrollToState enrolls a client and writes its state file, unwrapped
// through the library (the CLI path is covered by its own test).
func (e *env) enrollToState(t *testing.T, mount, role, clientID string) string {
	t.Helper()
	return e.Enroll(t, mount, role, clientID)
}

// login logs in with a fresh proof through the library.
func (e *env) login(t *testing.T, statePath string) (*api.Secret, error) {
	t.Helper()
	auth, err := client.NewEntropyAuth(client.WithStateFile(statePath))
	must(t, err)
	c, err := e.Client.Clone()
	must(t, err)
	return c.Auth().Login(t.Context(), auth)
}

// rawLogin sends a login with the given fields and reports the token, or
// the HTTP status of the refusal.
func (e *env) rawLogin(t *testing.T, path string, data map[string]interface{}) (string, int) {
	t.Helper()
	c := e.TokenClient(t, "")
	s, err := c.Logical().WriteWithContext(t.Context(), path, data)
	var re *api.ResponseError
	if errors.As(err, &re) {
		return "", re.StatusCode
	}
	must(t, err)
	if s == nil || s.Auth == nil {
		t.Fatalf("login to %s returned no auth", path)
	}
	return s.Auth.ClientToken, http.StatusOK
}

// mustRefuse asserts that a login is refused with Vault's generic
// permission denied and no token.
func (e *env) mustRefuse(t *testing.T, path string, data map[string]interface{}) {
	t.Helper()
	token, status := e.rawLogin(t, path, data)
	if token != "" || status != http.StatusForbidden {
		t.Fatalf("login was not refused with 403: status %d token %q", status, token)
	}
}

// proofAt builds a proof from a state file with a chosen issued_at, as a
// client with a wrong clock would.
func proofAt(t *testing.T, statePath string, at time.Time) map[string]interface{} {
	t.Helper()
	s, err := client.LoadState(statePath)
	must(t, err)
	pk, err := s.ServerKeys[0].Parse()
	must(t, err)
	proof, _, err := protocol.NewProof(protocol.ProofInput{
		ServerKey: pk, Role: s.Role, ClientID: s.ClientID, Generation: s.Generation, Entropy: s.Entropy,
		Sampling: protocol.Sampling{Count: s.SampleCount, Length: s.SampleLength}, IssuedAt: at,
	})
	must(t, err)
	return map[string]interface{}{"role": s.Role, "client_id": s.ClientID, "proof": proof}
}

// freshLoginData is a login's fields with a fresh proof, from the library.
func freshLoginData(t *testing.T, statePath string) (string, map[string]interface{}) {
	t.Helper()
	auth, err := client.NewEntropyAuth(client.WithStateFile(statePath))
	must(t, err)
	lr, _, err := auth.NewLoginRequest(t.Context(), nil) // nil: not in challenge mode
	must(t, err)
	return lr.Path, lr.Data()
}

// runCLI runs vault-entropy against the server.
func (e *env) runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return e.CLI(t, nil, stdin, args...)
}
