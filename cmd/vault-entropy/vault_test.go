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
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// testVault plays the auth method's login, challenge and keys endpoints
// for one enrolled client with the protocol package (the client package's
// tests cover the lifecycle in depth; these check the commands). Every
// login that proves the current generation is handed the next one.
type testVault struct {
	srv *httptest.Server

	mu           sync.Mutex
	keys         []*protocol.PrivateKey // current first; all accepted
	generation   uint64
	entropy      map[uint64][]byte
	challengeKey []byte
	noReceipt    bool
	paths        []string
	challenged   int
}

func newTestVault(t *testing.T, challengeRequired bool) (*testVault, string) {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	v := &testVault{keys: []*protocol.PrivateKey{sk}, generation: 1,
		entropy: map[uint64][]byte{1: randomBytes(4096)}, challengeKey: randomBytes(32)}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	t.Setenv("VAULT_ADDR", v.srv.URL)
	t.Setenv("VAULT_MAX_RETRIES", "0")
	t.Setenv("VAULT_TOKEN", "operator-token")
	state := filepath.Join(t.TempDir(), "state.json")
	if r := runCLI(t, "", "bootstrap", "-bundle", writeBundleFor(t, sk, v.entropy[1], challengeRequired), "-state", state); r.code != 0 {
		t.Fatalf("bootstrap: %+v", r)
	}
	return v, state
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (v *testVault) rotateKey(t *testing.T) {
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys = append([]*protocol.PrivateKey{sk}, v.keys...)
}

func (v *testVault) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.paths = append(v.paths, r.Method+" "+r.URL.Path)
	var body map[string]string
	json.NewDecoder(r.Body).Decode(&body)
	reply := func(status int, data map[string]interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(data)
	}
	deny := func() { reply(http.StatusForbidden, map[string]interface{}{"errors": []string{"permission denied"}}) }
	switch r.URL.Path {
	case "/v1/auth/entropy/keys":
		var keys []map[string]interface{}
		for i, k := range v.keys {
			keys = append(keys, map[string]interface{}{"key_id": k.Public().ID().String(), "suite": k.Public().Suite().String(),
				"public_key": base64.StdEncoding.EncodeToString(k.Public().Bytes()), "current": i == 0})
		}
		reply(http.StatusOK, map[string]interface{}{"data": map[string]interface{}{"keys": keys}})
	case "/v1/auth/entropy/challenge":
		raw, _ := base64.RawURLEncoding.DecodeString(body["nonce_commitment"])
		var commitment [32]byte
		copy(commitment[:], raw)
		ch, _ := protocol.NewChallenge(v.challengeKey, body["role"], body["client_id"], commitment, time.Now().Add(time.Minute))
		reply(http.StatusOK, map[string]interface{}{"data": map[string]interface{}{"challenge": base64.RawURLEncoding.EncodeToString(ch)}})
	case "/v1/auth/entropy/login":
		env, err := protocol.ParseProof(body["proof"])
		if err != nil {
			deny()
			return
		}
		var claims *protocol.Claims
		for _, k := range v.keys {
			if k.Public().ID() == env.Header.KeyID {
				claims, err = env.Open(k)
			}
		}
		if claims == nil || err != nil {
			deny()
			return
		}
		g := claims.Generation()
		if len(claims.Challenge()) > 0 {
			if claims.CheckChallenge(v.challengeKey, time.Now()) != nil {
				deny()
				return
			}
			v.challenged++
		}
		if (g != v.generation && g != v.generation+1) || claims.Verify(v.entropy[g], protocol.Sampling{Count: 8, Length: 32}) != nil {
			deny()
			return
		}
		v.generation = g
		receipt := claims.NewReceipt(false)
		if v.entropy[g+1] == nil {
			v.entropy[g+1] = randomBytes(4096)
		}
		receipt.Rotation = &protocol.Rotation{Generation: g + 1, Entropy: v.entropy[g+1], SampleCount: 8, SampleLength: 32}
		if env.Header.KeyID != v.keys[0].Public().ID() {
			for i, k := range v.keys {
				receipt.ServerKeys = append(receipt.ServerKeys, protocol.PublishedKey{KeyID: k.Public().ID().String(),
					Suite: k.Public().Suite().String(), PublicKey: k.Public().Bytes(), Current: i == 0})
			}
		}
		sealed, _ := claims.SealReceipt(receipt, v.entropy[g])
		data := map[string]interface{}{"receipt": sealed}
		if v.noReceipt {
			data = nil
		}
		reply(http.StatusOK, map[string]interface{}{
			"auth": map[string]interface{}{"client_token": "hvs.from-login",
				"metadata": map[string]string{"login_id": claims.LoginID()}},
			"data": data,
		})
	default:
		reply(http.StatusNotFound, map[string]interface{}{"errors": []string{}})
	}
}

func TestLoginKeepsTheStateUpToDate(t *testing.T) {
	_, state := newTestVault(t, false)
	for i := 1; i <= 3; i++ {
		r := runCLI(t, "", "login", "-state", state)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hvs.from-login" {
			t.Fatalf("login %d: %+v", i, r)
		}
		s, err := client.LoadState(state)
		if err != nil {
			t.Fatal(err)
		}
		if s.Generation != uint64(i) || s.Pending == nil || s.Pending.Generation != uint64(i+1) {
			t.Fatalf("after login %d: %v", i, s)
		}
	}
	r := runCLI(t, "", "login", "-state", state, "-format=json")
	var secret map[string]interface{}
	if err := json.Unmarshal([]byte(r.stdout), &secret); err != nil || r.code != 0 || secret["auth"] == nil {
		t.Fatalf("login -format=json: %+v", r)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state mode after logins: %v %v", fi, err)
	}
	if r := runCLI(t, "", "login", "-state", state, "-format=yaml"); r.code != 1 {
		t.Fatalf("bad format: %+v", r)
	}
}

func TestLoginWithoutReceiptDiscardsTheToken(t *testing.T) {
	v, state := newTestVault(t, false)
	v.mu.Lock()
	v.noReceipt = true
	v.mu.Unlock()
	r := runCLI(t, "", "login", "-state", state)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no receipt") || !strings.Contains(r.stderr, "VAULT_ADDR") ||
		strings.Contains(r.stderr, "hvs.") {
		t.Fatalf("login without receipt: %+v", r)
	}
}

// keys prints what the endpoint serves and stores nothing: keys enter the
// state only through a receipt.
func TestKeysFetchesAndStoresNothing(t *testing.T) {
	v, state := newTestVault(t, false)
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	v.rotateKey(t)
	r := runCLI(t, "", "keys", "-state", state)
	v.mu.Lock()
	current := v.keys[0].Public().ID().String()
	v.mu.Unlock()
	if r.code != 0 || !strings.HasPrefix(r.stdout, current+"  ") || !strings.Contains(r.stdout, "  current\n") || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("keys: %+v", r)
	}
	if now, _ := os.ReadFile(state); !bytes.Equal(now, saved) {
		t.Fatal("vault-entropy keys changed the state file")
	}
	j := runCLI(t, "", "keys", "-state", state, "-format=json")
	var keys []map[string]interface{}
	if err := json.Unmarshal([]byte(j.stdout), &keys); err != nil || len(keys) != 2 || keys[0]["key_id"] != current {
		t.Fatalf("keys -format=json: %+v", j)
	}
}

func TestProofInChallengeMode(t *testing.T) {
	v, state := newTestVault(t, true)
	r := runCLI(t, "", "proof", "-state", state)
	if r.code != 0 {
		t.Fatalf("proof: %+v", r)
	}
	env, err := protocol.ParseProof(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := env.Open(v.keys[0])
	if err != nil || claims.CheckChallenge(v.challengeKey, time.Now()) != nil {
		t.Fatalf("proof without a valid challenge: %v", err)
	}
	if r := runCLI(t, "", "login", "-state", state); r.code != 0 {
		t.Fatalf("login in challenge mode: %+v", r)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	want := []string{"PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/login"}
	if strings.Join(v.paths, ",") != strings.Join(want, ",") || v.challenged != 1 {
		t.Fatalf("requests %v, %d challenged", v.paths, v.challenged)
	}
}

// A key list with a malformed key beside the current one is refused whole
// (docs/protocol.md §3.1), and the server's words in the error are shown
// without their control characters.
func TestKeysRefusesAMalformedListSanitized(t *testing.T) {
	v, state := newTestVault(t, false)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/keys") {
			v.serve(w, r)
			return
		}
		rec := httptest.NewRecorder()
		v.serve(rec, r)
		var resp map[string]map[string][]map[string]interface{}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Error(err)
			return
		}
		resp["data"]["keys"] = append(resp["data"]["keys"], map[string]interface{}{
			"key_id": "\x1b[2J\rfake\nkey", "suite": "x\u009b", "public_key": "AA==", "current": false,
		})
		json.NewEncoder(w).Encode(resp)
	}))
	defer front.Close()
	t.Setenv("VAULT_ADDR", front.URL)
	r := runCLI(t, "", "keys", "-state", state)
	if r.code == 0 || r.stdout != "" || strings.ContainsAny(r.stderr, "\x1b\r\u009b") || strings.Count(r.stderr, "\n") != 1 ||
		!strings.Contains(r.stderr, "fetching the server keys") {
		t.Fatalf("keys: %+v", r)
	}
}
