package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// encodeBundle is what `vault-entropy bootstrap -bundle FILE -encode`
// prints for the bundle file, without its newline.
func encodeBundle(t *testing.T, bundle string) string {
	t.Helper()
	r := runCLI(t, "", "bootstrap", "-bundle", bundle, "-encode")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "ves1.") {
		t.Fatalf("bootstrap -encode: %+v", r)
	}
	return strings.TrimSpace(r.stdout)
}

// readOnlyFile copies the state file at path into a 0400 file in a 0500
// directory.
func readOnlyFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "state.json")
	if err := os.WriteFile(ro, b, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return ro
}

// login from each read-only source: a token every time, generation 1
// proven every time although each receipt hands out generation 2, the
// note once per run on stderr, and nothing written.
func TestLoginFromReadOnlySources(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, state string, encoded string) (stdin string, args []string)
	}{
		{"env", func(t *testing.T, _, encoded string) (string, []string) {
			t.Setenv(client.StateEnv, encoded)
			return "", []string{"-state-env=" + client.StateEnv}
		}},
		{"stdin", func(t *testing.T, _, encoded string) (string, []string) {
			return encoded + "\n", []string{"-state=-"}
		}},
		{"stdin holding a state file", func(t *testing.T, state, _ string) (string, []string) {
			b, err := os.ReadFile(state)
			if err != nil {
				t.Fatal(err)
			}
			return string(b), []string{"-state", "-"}
		}},
		{"read-only file", func(t *testing.T, state, _ string) (string, []string) {
			return "", []string{"-state", readOnlyFile(t, state), "-read-only"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, state := newTestVault(t, false)
			sk := v.keys[0]
			encoded := encodeBundle(t, writeBundleFor(t, sk, v.entropy[1], false))
			stdin, args := tc.setup(t, state, encoded)
			before, err := os.ReadFile(state)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				r := runCLI(t, stdin, append([]string{"login"}, args...)...)
				if r.code != 0 || strings.TrimSpace(r.stdout) != "hvs.from-login" {
					t.Fatalf("login %d: %+v", i, r)
				}
				if n := strings.Count(r.stderr, "Vault handed out generation 2"); n != 1 || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("login %d: the note %d times in %q", i, n, r.stderr)
				}
				if strings.Contains(r.stderr, encoded[5:30]) {
					t.Fatal("stderr carries the state")
				}
				if i == 0 {
					t.Logf("stderr: %s", r.stderr)
				}
			}
			v.mu.Lock()
			gen := v.generation
			v.mu.Unlock()
			if gen != 1 {
				t.Fatalf("the fake Vault was proven generation %d", gen)
			}
			if after, _ := os.ReadFile(state); string(after) != string(before) {
				t.Fatal("the state file changed")
			}
			// The proof command takes the same sources, and proves
			// generation 1 too.
			r := runCLI(t, stdin, append([]string{"proof", "-format=json"}, args...)...)
			var lr client.LoginRequest
			if err := json.Unmarshal([]byte(r.stdout), &lr); r.code != 0 || err != nil {
				t.Fatalf("proof: %+v", r)
			}
			env, err := protocol.ParseProof(lr.Proof)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := env.Open(sk)
			if err != nil {
				t.Fatal(err)
			}
			if g := claims.Generation(); g != 1 {
				t.Fatalf("the proof proves generation %d", g)
			}
		})
	}
}

func TestReadOnlyFlagErrors(t *testing.T) {
	v, state := newTestVault(t, false)
	encoded := encodeBundle(t, writeBundleFor(t, v.keys[0], v.entropy[1], false))
	readable := filepath.Join(t.TempDir(), "readable.json")
	b, _ := os.ReadFile(state)
	os.WriteFile(readable, b, 0o644)
	cases := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"both -state and -state-env", nil, "", []string{"login", "-state", state, "-state-env", "X"}, 2, "only one of -state and -state-env"},
		{"empty -state-env", nil, "", []string{"login", "-state-env="}, 2, "needs the name of a variable"},
		{"unset variable", nil, "", []string{"login", "-state-env=TEST_UNSET_ENTROPY_STATE"}, 1, "bootstrap -encode"},
		{"empty variable", map[string]string{"TEST_ENTROPY_STATE": ""}, "", []string{"login", "-state-env=TEST_ENTROPY_STATE"}, 1, "is empty"},
		{"a path in the variable", map[string]string{"TEST_ENTROPY_STATE": state}, "", []string{"login", "-state-env=TEST_ENTROPY_STATE"}, 1, client.StateFileEnv},
		{"truncated variable", map[string]string{"TEST_ENTROPY_STATE": encoded[:len(encoded)-10]}, "", []string{"login", "-state-env=TEST_ENTROPY_STATE"}, 1, "cut or altered"},
		{"another version", map[string]string{"TEST_ENTROPY_STATE": "ves9." + encoded[5:]}, "", []string{"login", "-state-env=TEST_ENTROPY_STATE"}, 1, "version tag"},
		{"empty stdin", nil, "", []string{"login", "-state=-"}, 1, "empty"},
		{"read-only file readable by others", nil, "", []string{"login", "-state", readable, "-read-only"}, 1, "chmod 600"},
		{"bootstrap takes no -state-env", nil, "", []string{"bootstrap", "-state-env", "X", "-bundle", "f"}, 2, "flag provided but not defined"},
		{"bootstrap -encode with -state", nil, "", []string{"bootstrap", "-bundle", writeBundle(t), "-encode", "-state", filepath.Join(t.TempDir(), "s")}, 2, "writes no state file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, tc.code, tc.want)
			}
			if strings.Contains(r.stderr, encoded[5:30]) || strings.Contains(r.stderr, encoded[len(encoded)-30:len(encoded)-10]) {
				t.Fatal("stderr quotes the state")
			}
		})
	}
}

// bootstrap -wrap-token=- -encode unwraps the bundle (a deploy-time
// rotation hands out the same bundle) and prints it encoded, writing no
// file: the default state path stays absent.
func TestBootstrapEncodeFromAWrappingToken(t *testing.T) {
	bundle, err := os.ReadFile(writeBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/sys/wrapping/lookup":
			w.Write([]byte(`{"data":{"creation_path":"auth/entropy/role/web/enroll"}}`))
		case "/v1/sys/wrapping/unwrap":
			w.Write([]byte(`{"data":` + string(bundle) + `}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	t.Setenv("VAULT_ADDR", srv.URL)
	dir := t.TempDir()
	t.Setenv(client.StateFileEnv, filepath.Join(dir, "state.json"))
	r := runCLI(t, "s.wrapping-token\n", "bootstrap", "-wrap-token=-", "-encode")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("bootstrap -encode: %+v", r)
	}
	s, err := client.DecodeState([]byte(r.stdout))
	if err != nil || s.ClientID != "agent-1" || s.Generation != 1 {
		t.Fatalf("decoded %v, %v", s, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bootstrap -encode wrote %v", entries)
	}
}

// The agent in token mode from a read-only state: tokens in the sink,
// generation 1 proven throughout, the note once in its log.
func TestAgentTokenModeFromAReadOnlyState(t *testing.T) {
	tv, _ := newTokenVault(t, 2*time.Second, 3*time.Second)
	encoded := encodeBundle(t, writeBundleFor(t, tv.keys[0], tv.entropy[1], false))
	t.Setenv(client.StateEnv, encoded)
	sink := filepath.Join(t.TempDir(), "sink", "token")
	log, stop := startAgent(t, "-state-env", client.StateEnv, "-sink", sink, "-rotation-check", "1s")
	eventually(t, 15*time.Second, "three logins", func() bool {
		tv.mu.Lock()
		defer tv.mu.Unlock()
		return len(tv.issued) >= 3
	})
	if code := stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if _, err := os.Stat(sink); err != nil {
		t.Fatal(err)
	}
	tv.testVault.mu.Lock()
	gen := tv.testVault.generation
	tv.testVault.mu.Unlock()
	if gen != 1 {
		t.Fatalf("generation %d was proven", gen)
	}
	out := log.String()
	if n := strings.Count(out, "Vault handed out generation 2"); n != 1 || !strings.Contains(out, "$"+client.StateEnv+" (read-only)") ||
		!strings.Contains(out, "read-only state at generation 1") {
		t.Fatalf("note %d times; log:\n%s", n, out)
	}
	if strings.Contains(out, "hvs.") || strings.Contains(out, encoded[5:30]) {
		t.Fatalf("a token or the state reached the log:\n%s", out)
	}
}
