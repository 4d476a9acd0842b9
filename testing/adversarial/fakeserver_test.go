package adversarial

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// fakeVault is an attacker who answers the client's HTTP in Vault's place
// (a DNS or proxy hijack, a rogue VAULT_ADDR): it holds its own key pair and
// plays every move the protocol leaves it (docs/threat-model.md, "A fake
// server"). It answers the first login with the named refusal that sends
// the client to fetch the keys, serves its own key from keys, opens the
// retry (sealed to its key, so it can) and answers with the most
// convincing receipt it can make: a token with the proof's login_id, a new
// generation of its choosing and its own key as current, sealed under the
// retry's exporter, keyed by the only entropy it has (none of the
// client's). With window set, it answers every login with the
// unauthenticated "make a new proof" refusal and keeps the proofs.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server
	sk  *protocol.PrivateKey

	mu     sync.Mutex
	window bool
	proofs []string // every proof it received
	opened int      // proofs sealed to its own key, opened
}

func newFakeVault(t *testing.T) *fakeVault {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVault{t: t, sk: sk}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) published() []protocol.PublishedKey {
	pk := f.sk.Public()
	return []protocol.PublishedKey{{KeyID: pk.ID().String(), Suite: pk.Suite().String(), PublicKey: pk.Bytes(), Current: true}}
}

func (f *fakeVault) reply(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/auth/"+mount+"/keys":
		f.reply(w, http.StatusOK, map[string]interface{}{"data": map[string]interface{}{"keys": f.published()}})
	case r.URL.Path == "/v1/auth/"+mount+"/login":
		f.login(w, r)
	case r.URL.Path == "/v1/sys/wrapping/unwrap":
		// An enrollment bundle of the attacker's making.
		entropy := make([]byte, protocol.MinEntropySize)
		_, _ = rand.Read(entropy)
		f.reply(w, http.StatusOK, map[string]interface{}{"data": map[string]interface{}{
			"bundle_version": 1, "mount_path": "auth/" + mount, "role": "web", "client_id": "frank",
			"generation": 1, "entropy": entropy, "sample_count": 320, "sample_length": 8, "server_keys": f.published(),
		}})
	default:
		f.reply(w, http.StatusNotFound, map[string]interface{}{"errors": []string{}})
	}
}

func (f *fakeVault) login(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.reply(w, http.StatusBadRequest, map[string]interface{}{"errors": []string{"bad body"}})
		return
	}
	f.proofs = append(f.proofs, body["proof"])
	if f.window {
		f.reply(w, http.StatusBadRequest, map[string]interface{}{"errors": []string{protocol.ErrProofPredatesWindow.Error()}})
		return
	}
	env, err := protocol.ParseProof(body["proof"])
	if err != nil {
		f.reply(w, http.StatusForbidden, map[string]interface{}{"errors": []string{"permission denied"}})
		return
	}
	if env.Header.KeyID != f.sk.Public().ID() {
		f.reply(w, http.StatusBadRequest, map[string]interface{}{"errors": []string{protocol.ErrKeyNotAccepted.Error() + " (key " + env.Header.KeyID.String() + ")"}})
		return
	}
	claims, err := env.Open(f.sk)
	if err != nil {
		f.t.Errorf("the fake cannot open a proof sealed to its own key: %v", err)
		return
	}
	f.opened++
	next := make([]byte, protocol.MinEntropySize)
	_, _ = rand.Read(next)
	receipt := claims.NewReceipt(false)
	receipt.Rotation = &protocol.Rotation{Generation: claims.Generation() + 1, Entropy: next, SampleCount: 320, SampleLength: 8}
	receipt.ServerKeys = f.published()
	// The client's entropy is what it lacks: it keys the receipt with
	// bytes of its own, of the size the sampling implies.
	guess := make([]byte, 64<<10)
	sealed, err := claims.SealReceipt(receipt, guess)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.reply(w, http.StatusOK, map[string]interface{}{
		"auth": map[string]interface{}{"client_token": "hvs.fake-token", "accessor": "fake", "renewable": true, "lease_duration": 3600,
			"metadata": map[string]string{"role": claims.Header.Role, "client_id": claims.Header.ClientID, "login_id": claims.LoginID()}},
		"data": map[string]interface{}{"receipt": sealed},
	})
}

// testFakeServer: whoever answers the client's HTTP in Vault's place cannot
// make the library or the CLI accept a token, change the state file, or
// make the client fail at the real Vault afterwards; a fake bootstrap does
// not replace an existing state; and the unauthenticated "make a new proof"
// refusal harvests at most nine proofs per login (the library's window
// retries, client/auth.go).
func testFakeServer(t *testing.T, e *env) {
	const rc = "web/frank"
	path := e.state[rc]
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(t *testing.T, what string) {
		t.Helper()
		if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, saved) {
			t.Fatalf("%s changed the state file", what)
		}
	}
	fake := newFakeVault(t)

	t.Run("library", func(t *testing.T) {
		auth, err := client.NewEntropyAuth(client.WithStateFile(path))
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAddress(fake.srv.URL); err != nil {
			t.Fatal(err)
		}
		c.ClearToken()
		secret, err := c.Auth().Login(t.Context(), auth)
		if err == nil || secret != nil {
			t.Fatalf("the library accepted the fake server's answer: %v", secret)
		}
		if !strings.Contains(err.Error(), "receipt") {
			t.Fatalf("refused for another reason than the receipt: %v", err)
		}
		if c.Token() != "" {
			t.Fatal("the fake token was set on the client")
		}
		unchanged(t, "a fake server's login")
	})
	t.Run("cli", func(t *testing.T) {
		out, err := e.CLI(t, []string{"VAULT_ADDR=" + fake.srv.URL}, "", "login", "-state="+path)
		if err == nil || strings.Contains(out, "hvs.fake-token") {
			t.Fatalf("the CLI accepted the fake server's answer: out %q err %v", out, err)
		}
		unchanged(t, "a fake server's login through the CLI")
	})
	t.Run("bootstrap", func(t *testing.T) {
		out, err := e.CLI(t, []string{"VAULT_ADDR=" + fake.srv.URL}, "s.fakewrap\n", "bootstrap", "-wrap-token=-", "-state="+path)
		if err == nil {
			t.Fatalf("bootstrap from a fake server replaced an existing state: %q", out)
		}
		unchanged(t, "a fake server's bootstrap")
	})
	fake.mu.Lock()
	opened := fake.opened
	fake.mu.Unlock()
	if opened < 2 {
		t.Fatalf("the fake opened %d retries: the attack was not played out (library and CLI each seal one retry to its key)", opened)
	}

	var harvested []string
	t.Run("harvest bounded", func(t *testing.T) {
		fake.mu.Lock()
		fake.window, fake.proofs = true, nil
		fake.mu.Unlock()
		start := time.Now()
		_, err := e.CLI(t, []string{"VAULT_ADDR=" + fake.srv.URL}, "", "login", "-state="+path)
		if err == nil {
			t.Fatal("a login answered only with refusals succeeded")
		}
		fake.mu.Lock()
		n := len(fake.proofs)
		harvested = append(harvested, fake.proofs...)
		fake.mu.Unlock()
		// The library retries 8 times at most, over up to 10 min 8 s
		// (client/auth.go, windowRetryDelays); the CLI's two-minute limit
		// stops it after 4 retries (at 4, 12, 28 and 60 s).
		if n > 9 {
			t.Fatalf("one login sent %d proofs to a server that only asked for new ones (in %s)", n, time.Since(start).Round(time.Second))
		}
		unchanged(t, "a harvesting server")
	})

	// One more proof harvested just now, by the library cut off during its
	// first wait: those above are older than the env's allowed clock skew
	// by the time the client has rotated (the CLI waited up to a minute),
	// and a proof refused as too old would show nothing about staleness.
	fake.mu.Lock()
	fake.window, fake.proofs = true, nil
	fake.mu.Unlock()
	auth, err := client.NewEntropyAuth(client.WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := e.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.SetAddress(fake.srv.URL); err != nil {
		t.Fatal(err)
	}
	fc.ClearToken()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	if _, err := fc.Auth().Login(ctx, auth); err == nil {
		t.Fatal("a login answered only with refusals succeeded")
	}
	cancel()
	fake.mu.Lock()
	harvested = append(harvested, fake.proofs...)
	fake.window = false
	fake.mu.Unlock()
	unchanged(t, "a harvesting server")

	// And the real Vault is none the wiser: the client logs in there, and
	// rotates, as before.
	e.honestLogin(t, rc)
	e.rotateAndPromote(t, rc)
	e.honestLogin(t, rc)

	// A harvested proof (valid at the real Vault, sealed to its key) held
	// back until the client has moved on is stale, not a clone trigger
	// (docs/protocol.md §14.3): refused, the client not locked.
	if len(harvested) == 0 {
		t.Fatal("nothing harvested")
	}
	e.refusedAsStale(t, rc, harvested[len(harvested)-1], "a harvested proof sent after a rotation")
	e.alive(t)
}
