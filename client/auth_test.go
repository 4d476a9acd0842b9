package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func savedState(t *testing.T) (string, *protocol.PrivateKey) {
	t.Helper()
	raw, sk := testBundle(t)
	s, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	return path, sk
}

func TestNewLoginRequestBuildsAVerifiableProof(t *testing.T) {
	path, sk := savedState(t)
	s, _ := LoadState(path)
	auth, err := NewEntropyAuth(WithStateFile(path), WithMountPath("/auth/other/"))
	if err != nil {
		t.Fatal(err)
	}
	lr, _, err := auth.NewLoginRequest()
	if err != nil {
		t.Fatal(err)
	}
	if lr.Path != "auth/other/login" || lr.Role != "web" || lr.ClientID != "agent-1" {
		t.Fatalf("login request = %+v", lr)
	}
	env, err := protocol.ParseProof(lr.Proof)
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Open(sk)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckTime(time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(s.Entropy, s.sampling(), nil); err != nil {
		t.Fatalf("proof does not verify: %v", err)
	}
	lr2, _, _ := auth.NewLoginRequest()
	if lr2.Proof == lr.Proof {
		t.Fatal("two login requests share a proof")
	}
}

// fakeVault answers the login path with the given status and body.
func fakeVault(t *testing.T, status int, body interface{}, seen *http.Request) *api.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			*seen = *r.Clone(context.Background())
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	conf := api.DefaultConfig()
	conf.Address = srv.URL
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("operator-token")
	return c
}

func TestLoginMapsResponses(t *testing.T) {
	path, _ := savedState(t)
	auth, _ := NewEntropyAuth(WithStateFile(path))

	var seen http.Request
	c := fakeVault(t, 200, map[string]interface{}{"auth": map[string]interface{}{"client_token": "hvs.x", "policies": []string{"a"}}}, &seen)
	c.SetNamespace("team-a") // as VAULT_NAMESPACE does
	secret, err := c.Auth().Login(context.Background(), auth)
	if err != nil || secret.Auth.ClientToken != "hvs.x" || c.Token() != "hvs.x" {
		t.Fatalf("login = %v, %v", secret, err)
	}
	if seen.URL.Path != "/v1/auth/entropy/login" || seen.Header.Get("X-Vault-Token") != "" {
		t.Fatalf("login went to %s with token %q", seen.URL.Path, seen.Header.Get("X-Vault-Token"))
	}
	if ns := seen.Header.Get("X-Vault-Namespace"); ns != "team-a" {
		t.Fatalf("login lost the namespace: %q", ns)
	}

	c = fakeVault(t, 403, map[string]interface{}{"errors": []string{"permission denied"}}, nil)
	if _, err := c.Auth().Login(context.Background(), auth); !errors.Is(err, ErrLoginRefused) {
		t.Fatalf("403: %v", err)
	}
	c = fakeVault(t, 200, map[string]interface{}{"data": map[string]interface{}{}}, nil)
	if _, err := c.Auth().Login(context.Background(), auth); err == nil {
		t.Fatal("a response without a token was accepted")
	}
	c = fakeVault(t, 500, map[string]interface{}{"errors": []string{"internal"}}, nil)
	if _, err := c.Auth().Login(context.Background(), auth); err == nil || errors.Is(err, ErrLoginRefused) {
		t.Fatalf("500 reported as %v", err)
	}
}
