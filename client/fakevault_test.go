package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// fakeVault plays the entropy auth method's part of Vault over HTTP, with
// the protocol package and a private key of its own: it answers login,
// challenge and keys for one client as the contract of issue 4 describes
// (rotation in the receipt, promotion of a proven pending generation,
// clone refusal, the named refusals). It is not the backend; the
// backend's own tests and the integration tests cover that.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	keys     []*protocol.PrivateKey // current first
	accepted map[string]bool        // key IDs proofs may be sealed to

	role, clientID                  string
	sampling                        protocol.Sampling
	generation, pending, superseded uint64
	entropy                         map[uint64][]byte

	// rotate: every accepted login with no pending generation issues one.
	rotate            bool
	challengeRequired bool
	challengeKey      []byte
	nonces            map[[32]byte]bool

	// readsVersion, when set, is the newest proof version the fake reads,
	// as a server of an older release: a newer proof is refused with a
	// bare 403, and receipts say so (no proof_version at all for 1).
	readsVersion uint8
	// versions are the protocol versions of the proofs it accepted.
	versions []uint8

	// refuseWith, when set, answers every login with 400 and this text.
	refuseWith string
	// denyAll answers every login with a bare 403, as for a locked client.
	denyAll bool
	// windowRefusals answers that many logins with the named refusal of a
	// server that has just started, keeping the proofs in windowRefused.
	windowRefusals int
	windowRefused  []string
	// watermark, when set, refuses with the same named refusal every
	// verified proof issued at or before it (docs/protocol.md §8.3), as a
	// server does after a start; the proofs go to windowRefused too.
	watermark int64
	// currentKeyID, when set, is the keys endpoint's current_key_id in
	// place of the first key's.
	currentKeyID string
	// editKeys changes the keys endpoint's list before it is sent.
	editKeys func(keys []map[string]interface{})
	// clock and skew are the server's clock and allowed skew (default
	// time.Now and a minute).
	clock func() time.Time
	skew  time.Duration
	// editReceipt and editBody change a successful login's answer, before
	// and after the receipt is sealed.
	editReceipt func(r *protocol.Receipt)
	editBody    func(body map[string]interface{})
	// lastReceipt is the sealed receipt of the previous accepted login.
	lastReceipt string

	tokens, clones int
	requests       []seenRequest
	challenged     int // logins whose proof carried a challenge
}

type seenRequest struct {
	method, path, token, namespace string
}

const fakeEntropySize = protocol.MinEntropySize

func newFakeVault(t *testing.T) *fakeVault {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVault{
		t:            t,
		keys:         []*protocol.PrivateKey{sk},
		accepted:     map[string]bool{sk.Public().ID().String(): true},
		role:         "web",
		clientID:     "agent-1",
		sampling:     protocol.Sampling{Count: 8, Length: 32},
		generation:   1,
		entropy:      map[uint64][]byte{1: randomBytes(t, fakeEntropySize)},
		challengeKey: randomBytes(t, protocol.ChallengeKeySize),
		nonces:       map[[32]byte]bool{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// published is the keyring as the keys endpoint and receipts publish it.
func (f *fakeVault) published() []protocol.PublishedKey {
	out := make([]protocol.PublishedKey, len(f.keys))
	for i, k := range f.keys {
		out[i] = protocol.PublishedKey{KeyID: k.Public().ID().String(), Suite: k.Public().Suite().String(), PublicKey: k.Public().Bytes(), Current: i == 0}
	}
	return out
}

// stateFile writes the client's enrolled state and returns its path.
// newRotatingFake is a fake Vault that hands out a new generation at every
// login that proves the current one, and the state file of its client.
func newRotatingFake(t *testing.T) (*fakeVault, string) {
	f := newFakeVault(t)
	f.with(func() { f.rotate = true })
	return f, f.stateFile(t)
}

func (f *fakeVault) stateFile(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	s := &State{
		Version: stateVersion, MountPath: "auth/entropy", Role: f.role, ClientID: f.clientID,
		Generation: f.generation, Entropy: f.entropy[f.generation],
		SampleCount: f.sampling.Count, SampleLength: f.sampling.Length,
		ServerKeys: f.published(), ChallengeRequired: f.challengeRequired,
	}
	f.mu.Unlock()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// client is a Vault API client for the fake, with an operator token and a
// namespace, as VAULT_TOKEN and VAULT_NAMESPACE would set them.
func (f *fakeVault) client(t *testing.T) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = f.srv.URL
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("operator-token")
	c.SetNamespace("team-a")
	return c
}

// with runs fn holding the fake's lock: the handlers run on the server's
// goroutines.
func (f *fakeVault) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// rotateKey makes a new current key; the old ones stay accepted. Call it
// through with.
func (f *fakeVault) rotateKey() {
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys = append([]*protocol.PrivateKey{sk}, f.keys...)
	f.accepted[sk.Public().ID().String()] = true
}

// retireOldKeys stops accepting every key but the current one. Call it
// through with.
func (f *fakeVault) retireOldKeys() {
	f.keys = f.keys[:1]
	f.accepted = map[string]bool{f.keys[0].Public().ID().String(): true}
}

// paths is the requests seen so far, as "METHOD path".
func (f *fakeVault) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.requests))
	for i, r := range f.requests {
		out[i] = r.method + " " + r.path
	}
	return out
}

// checkUnauthenticated fails the test if a request so far carried a token
// or lost the namespace.
func (f *fakeVault) checkUnauthenticated(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r.token != "" || r.namespace != "team-a" {
			t.Fatalf("request %+v: sent a token or lost the namespace", r)
		}
	}
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, seenRequest{r.Method, r.URL.Path, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace")})
	var body map[string]string
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]interface{}{"errors": []string{"bad body"}})
			return
		}
	}
	switch {
	case r.URL.Path == "/v1/auth/entropy/login" && body != nil:
		f.login(w, body)
	case r.URL.Path == "/v1/auth/entropy/challenge" && body != nil:
		f.challenge(w, body)
	case r.URL.Path == "/v1/auth/entropy/keys" && r.Method == http.MethodGet:
		keys := []map[string]interface{}{}
		for _, k := range f.published() {
			keys = append(keys, map[string]interface{}{
				"key_id": k.KeyID, "suite": k.Suite, "public_key": base64.StdEncoding.EncodeToString(k.PublicKey),
				"current": k.Current, "created_at": "2026-01-01T00:00:00Z", "retired_at": "", "accepted_until": "",
			})
		}
		if f.editKeys != nil {
			f.editKeys(keys)
		}
		currentKeyID := f.published()[0].KeyID
		if f.currentKeyID != "" {
			currentKeyID = f.currentKeyID
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"data": map[string]interface{}{"keys": keys, "current_key_id": currentKeyID, "grace_period": 86400}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]interface{}{"errors": []string{}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func deny(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, map[string]interface{}{"errors": []string{"permission denied"}})
}

func badRequest(w http.ResponseWriter, text string) {
	writeJSON(w, http.StatusBadRequest, map[string]interface{}{"errors": []string{text}})
}

func (f *fakeVault) challenge(w http.ResponseWriter, body map[string]string) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body["nonce_commitment"])
	if err != nil || len(raw) != 32 {
		badRequest(w, "invalid nonce_commitment")
		return
	}
	var commitment [32]byte
	copy(commitment[:], raw)
	expires := time.Now().Add(time.Minute)
	ch, err := protocol.NewChallenge(f.challengeKey, body["role"], body["client_id"], commitment, expires)
	if err != nil {
		f.t.Error(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"data": map[string]interface{}{
		"challenge": base64.RawURLEncoding.EncodeToString(ch), "expires_at": expires.UTC().Format(time.RFC3339),
	}})
}

func (f *fakeVault) login(w http.ResponseWriter, body map[string]string) {
	if f.refuseWith != "" {
		badRequest(w, f.refuseWith)
		return
	}
	if f.denyAll {
		deny(w)
		return
	}
	if f.windowRefusals > 0 {
		f.windowRefusals--
		f.windowRefused = append(f.windowRefused, body["proof"])
		badRequest(w, protocol.ErrProofPredatesWindow.Error())
		return
	}
	env, err := protocol.ParseProof(body["proof"])
	if err != nil || f.readsVersion != 0 && env.Header.Version > f.readsVersion {
		deny(w)
		return
	}
	keyID := env.Header.KeyID.String()
	if !f.accepted[keyID] {
		badRequest(w, fmt.Sprintf("%s (key %s)", protocol.ErrKeyNotAccepted, keyID))
		return
	}
	var sk *protocol.PrivateKey
	for _, k := range f.keys {
		if k.Public().ID().String() == keyID {
			sk = k
		}
	}
	claims, err := env.Open(sk)
	if err != nil || claims.CheckHeader(body["role"], body["client_id"]) != nil ||
		body["role"] != f.role || body["client_id"] != f.clientID || claims.CheckTime(f.now(), f.allowedSkew()) != nil {
		deny(w)
		return
	}
	if len(claims.Challenge()) > 0 {
		if claims.CheckChallenge(f.challengeKey, time.Now()) != nil {
			deny(w)
			return
		}
		f.challenged++
	}
	g := claims.Generation()
	if g != f.generation && g != f.pending && g != f.superseded || g == 0 {
		deny(w)
		return
	}
	proven := f.entropy[g]
	if claims.Verify(proven, f.sampling) != nil {
		deny(w)
		return
	}
	if f.challengeRequired && len(claims.Challenge()) == 0 {
		badRequest(w, protocol.ErrChallengeRequired.Error())
		return
	}
	if f.watermark != 0 && claims.IssuedAt().Unix() <= f.watermark {
		f.windowRefused = append(f.windowRefused, body["proof"])
		badRequest(w, protocol.ErrProofPredatesWindow.Error())
		return
	}
	if f.nonces[claims.NonceID()] {
		deny(w)
		return
	}
	f.nonces[claims.NonceID()] = true
	if g == f.superseded {
		f.clones++
		deny(w)
		return
	}
	if g == f.pending {
		delete(f.entropy, f.superseded)
		f.superseded, f.generation, f.pending = f.generation, f.pending, 0
	}
	receipt := claims.NewReceipt(f.challengeRequired)
	f.versions = append(f.versions, env.Header.Version)
	if f.readsVersion != 0 {
		receipt.ProofVersion = int(f.readsVersion)
		if f.readsVersion == 1 {
			receipt.ProofVersion = 0 // such a server knows no proof_version
		}
	}
	if f.pending == 0 && f.rotate {
		f.pending = f.generation + 1
		f.entropy[f.pending] = randomBytes(f.t, fakeEntropySize)
	}
	if f.pending != 0 {
		// Issued again, the same bytes, until it is proven.
		receipt.Rotation = &protocol.Rotation{Generation: f.pending, Entropy: f.entropy[f.pending],
			SampleCount: f.sampling.Count, SampleLength: f.sampling.Length}
	}
	if keyID != f.keys[0].Public().ID().String() {
		receipt.ServerKeys = f.published()
	}
	if f.editReceipt != nil {
		f.editReceipt(receipt)
	}
	sealed, err := claims.SealReceipt(receipt, proven)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.tokens++
	resp := map[string]interface{}{
		"auth": map[string]interface{}{
			"client_token": fmt.Sprintf("hvs.token-%d", f.tokens),
			"policies":     []string{"default"},
			"metadata": map[string]string{"role": f.role, "client_id": f.clientID,
				"generation": fmt.Sprint(g), "login_id": claims.LoginID()},
		},
		"data": map[string]interface{}{"receipt": sealed},
	}
	if f.editBody != nil {
		f.editBody(resp)
	}
	f.lastReceipt = sealed
	writeJSON(w, http.StatusOK, resp)
}

// serverState is what the fake holds of the client.
func (f *fakeVault) serverState() (generation, pending uint64, pendingEntropy []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.generation, f.pending, f.entropy[f.pending]
}

func (f *fakeVault) cloneCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clones
}

func (f *fakeVault) now() time.Time {
	if f.clock != nil {
		return f.clock()
	}
	return time.Now()
}

func (f *fakeVault) allowedSkew() time.Duration {
	if f.skew != 0 {
		return f.skew
	}
	return time.Minute
}
