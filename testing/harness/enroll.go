package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// Write runs a write with the root token and returns its response.
func (s *Server) Write(t testing.TB, path string, data map[string]interface{}) *api.Secret {
	t.Helper()
	secret, err := s.Client.Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return secret
}

// TokenClient is a client of the server that uses token ("" for none).
func (s *Server) TokenClient(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// Enroll enrolls a client in role at auth/MOUNT (clientID "" lets the
// server choose), unwraps the bundle through the library and saves the
// client state in a fresh temporary directory; it returns the state's path.
func (s *Server) Enroll(t testing.TB, mount, role, clientID string) string {
	t.Helper()
	c := s.TokenClient(t, s.RootToken)
	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	data := map[string]interface{}{}
	if clientID != "" {
		data["client_id"] = clientID
	}
	wrapped, err := c.Logical().WriteWithContext(context.Background(), mount+"/role/"+role+"/enroll", data)
	if err != nil {
		t.Fatalf("enrolling in %s/role/%s: %v", mount, role, err)
	}
	if wrapped == nil || wrapped.WrapInfo == nil {
		t.Fatal("enrollment was not wrapped")
	}
	state, err := client.Unwrap(context.Background(), s.Client, wrapped.WrapInfo.Token)
	if err != nil {
		t.Fatalf("unwrapping the enrollment: %v", err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := state.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// CLI runs the vault-entropy binary against the server (VAULT_ADDR set,
// VAULT_TOKEN empty, then env) with stdin, and returns its stdout; on
// failure the error holds its stderr.
func (s *Server) CLI(t testing.TB, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	_, cli := Binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.New(stderr.String())
	}
	return string(out), nil
}
