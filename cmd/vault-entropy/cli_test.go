package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// writeBundle writes an enrollment bundle, as `vault write -format=json`
// prints it, and returns its path.
func writeBundle(t *testing.T) string {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	entropy := make([]byte, 4096)
	rand.Read(entropy)
	return writeBundleFor(t, sk, entropy, false)
}

// writeBundleFor writes the bundle of client agent-1 of role web at
// generation 1, with the given server key and entropy.
func writeBundleFor(t *testing.T, sk *protocol.PrivateKey, entropy []byte, challengeRequired bool) string {
	t.Helper()
	raw, _ := json.Marshal(map[string]interface{}{"data": map[string]interface{}{
		"bundle_version": 1, "mount_path": "auth/entropy", "role": "web", "client_id": "agent-1", "generation": 1,
		"entropy": base64.StdEncoding.EncodeToString(entropy), "sample_count": 8, "sample_length": 32,
		"server_keys": []map[string]interface{}{{
			"key_id": sk.Public().ID().String(), "suite": sk.Public().Suite().String(),
			"public_key": base64.StdEncoding.EncodeToString(sk.Public().Bytes()), "current": true,
		}},
		"challenge_required": challengeRequired,
	}})
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func bootstrapped(t *testing.T) string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state.json")
	if r := runCLI(t, "", "bootstrap", "-bundle", writeBundle(t), "-state", state); r.code != 0 {
		t.Fatalf("bootstrap: %+v", r)
	}
	return state
}

func TestBootstrapFromBundleFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	bundle := writeBundle(t)
	r := runCLI(t, "", "bootstrap", "-bundle", bundle, "-state", state)
	if r.code != 0 || !strings.Contains(r.stdout, "agent-1") {
		t.Fatalf("bootstrap: %+v", r)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state mode %v %v", fi, err)
	}
	r = runCLI(t, "", "bootstrap", "-bundle", bundle, "-state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "-force") {
		t.Fatalf("overwrite without -force: %+v", r)
	}
	b, _ := os.ReadFile(bundle)
	if r = runCLI(t, string(b), "bootstrap", "-bundle", "-", "-state", state, "-force"); r.code != 0 {
		t.Fatalf("bootstrap from stdin with -force: %+v", r)
	}
}

func TestProofPrintsOneFreshProof(t *testing.T) {
	state := bootstrapped(t)
	a := runCLI(t, "", "proof", "-state", state)
	b := runCLI(t, "", "proof", "-state", state)
	if a.code != 0 || b.code != 0 || a.stdout == b.stdout {
		t.Fatalf("proofs: %+v %+v", a, b)
	}
	if _, err := protocol.ParseProof(strings.TrimSpace(a.stdout)); err != nil {
		t.Fatalf("printed proof does not parse: %v", err)
	}
	j := runCLI(t, "", "proof", "-state", state, "-format=json")
	var lr map[string]string
	if err := json.Unmarshal([]byte(j.stdout), &lr); err != nil || lr["path"] != "auth/entropy/login" || lr["role"] != "web" || lr["proof"] == "" {
		t.Fatalf("proof -format=json: %+v %v", j, err)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	good := bootstrapped(t)
	readable := filepath.Join(dir, "readable.json")
	b, _ := os.ReadFile(good)
	os.WriteFile(readable, b, 0o644)
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte("{not json"), 0o600)

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":["permission denied"]}`))
	}))
	defer refusing.Close()
	// A server whose error text tries to clear the screen and write a
	// line of its own.
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errors":["\u001b[2J\u001b[Hbad\r\nSuccess! Token: s.fake\u009b0m"]}`))
	}))
	defer hostile.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.URL
	closed.Close()

	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", nil, nil, 2, "Usage"},
		{"unknown command", nil, []string{"frobnicate"}, 2, "unknown command"},
		{"bad flag", nil, []string{"proof", "-nope"}, 2, "flag provided but not defined"},
		{"stray argument", nil, []string{"proof", "-state", good, "extra"}, 2, "unexpected arguments"},
		{"bad format", nil, []string{"proof", "-state", good, "-format=yaml"}, 1, "unknown -format"},
		{"bootstrap needs a source", nil, []string{"bootstrap", "-state", filepath.Join(dir, "x")}, 2, "exactly one of"},
		{"bootstrap missing bundle", nil, []string{"bootstrap", "-bundle", filepath.Join(dir, "none"), "-state", filepath.Join(dir, "x")}, 1, "no bundle file"},
		{"bootstrap bad bundle", nil, []string{"bootstrap", "-bundle", corrupt, "-state", filepath.Join(dir, "x")}, 1, "bundle is not JSON"},
		{"missing state", nil, []string{"proof", "-state", filepath.Join(dir, "none.json")}, 1, "vault-entropy bootstrap"},
		{"state from env", map[string]string{"VAULT_ENTROPY_STATE_FILE": filepath.Join(dir, "env.json")}, []string{"proof"}, 1, "env.json"},
		{"readable state", nil, []string{"proof", "-state", readable}, 1, "chmod 600"},
		{"corrupt state", nil, []string{"login", "-state", corrupt}, 1, "enroll the client again"},
		{"vault unreachable", map[string]string{"VAULT_ADDR": closedAddr, "VAULT_MAX_RETRIES": "0"}, []string{"login", "-state", good}, 1, "cannot reach Vault"},
		{"Vault's error text sanitized (keys)", map[string]string{"VAULT_ADDR": hostile.URL, "VAULT_MAX_RETRIES": "0"}, []string{"keys", "-state", good}, 1, "bad Success! Token: s.fake0m"},
		{"Vault's error text sanitized (login)", map[string]string{"VAULT_ADDR": hostile.URL, "VAULT_MAX_RETRIES": "0"}, []string{"login", "-state", good}, 1, "bad  Success! Token: s.fake0m"},
		{"login refused", map[string]string{"VAULT_ADDR": refusing.URL, "VAULT_MAX_RETRIES": "0"}, []string{"login", "-state", good}, 1, "refused the login"},
		{"login refused names the client to check", map[string]string{"VAULT_ADDR": refusing.URL, "VAULT_MAX_RETRIES": "0"}, []string{"login", "-state", good}, 1, `"vault read auth/entropy/role/web/client/agent-1"`},
		{"login refused, other mount", map[string]string{"VAULT_ADDR": refusing.URL, "VAULT_MAX_RETRIES": "0"}, []string{"login", "-state", good, "-mount", "auth/eu/"}, 1, `"vault read auth/eu/role/web/client/agent-1"`},
		{"keys unreachable", map[string]string{"VAULT_ADDR": closedAddr, "VAULT_MAX_RETRIES": "0"}, []string{"keys", "-state", good}, 1, "cannot reach Vault"},
		{"keys missing state", nil, []string{"keys", "-state", filepath.Join(dir, "none.json")}, 1, "vault-entropy bootstrap"},
		{"bad wrapping token", map[string]string{"VAULT_ADDR": refusing.URL, "VAULT_MAX_RETRIES": "0"}, []string{"bootstrap", "-wrap-token", "-", "-state", filepath.Join(dir, "y")}, 1, "empty wrapping token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if r.code != 0 && r.stdout != "" {
				t.Fatalf("failure printed to stdout: %q", r.stdout)
			}
			if strings.ContainsAny(r.stderr, "\x1b\r\u009b") || strings.Contains(r.stderr, "\nSuccess") {
				t.Fatalf("stderr carries Vault's control characters: %q", r.stderr)
			}
		})
	}
}

// bootstrap -wrap-token=- reads the token from stdin (one line, trimmed),
// so that it is not in the process list, and unwraps it after checking it
// was made by the enroll endpoint.
func TestBootstrapReadsTheWrappingTokenFromStdin(t *testing.T) {
	bundle, err := os.ReadFile(writeBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	var unwrapToken string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/sys/wrapping/lookup":
			w.Write([]byte(`{"data":{"creation_path":"auth/entropy/role/web/enroll"}}`))
		case "/v1/sys/wrapping/unwrap":
			unwrapToken = r.Header.Get("X-Vault-Token")
			w.Write([]byte(`{"data":` + string(bundle) + `}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	state := filepath.Join(t.TempDir(), "state.json")
	r := runCLI(t, "s.wrapping-token\n", "bootstrap", "-wrap-token=-", "-state", state)
	if r.code != 0 || unwrapToken != "s.wrapping-token" {
		t.Fatalf("bootstrap: %+v, unwrapped with %q", r, unwrapToken)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatal(err)
	}
}
