package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func newAuth(t *testing.T, path string) *EntropyAuth {
	t.Helper()
	a, err := NewEntropyAuth(WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustLoad(t *testing.T, path string) *State {
	t.Helper()
	s, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewLoginRequestBuildsAVerifiableProof(t *testing.T) {
	f := newFakeVault(t)
	path := f.stateFile(t)
	s := mustLoad(t, path)
	auth, err := NewEntropyAuth(WithStateFile(path), WithMountPath("/auth/other/"))
	if err != nil {
		t.Fatal(err)
	}
	lr, _, err := auth.NewLoginRequest(context.Background(), nil)
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
	c, err := env.Open(f.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckTime(time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(s.Entropy, s.sampling()); err != nil {
		t.Fatalf("proof does not verify: %v", err)
	}
	lr2, _, _ := auth.NewLoginRequest(context.Background(), nil)
	if lr2.Proof == lr.Proof {
		t.Fatal("two login requests share a proof")
	}
}

func TestNewLoginRequestProvesPendingAndFetchesChallenges(t *testing.T) {
	f, path := newRotatingFake(t)
	if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, path)
	if s.Pending == nil {
		t.Fatal("no pending generation after a rotation")
	}

	// Without challenge mode no client is needed; the proof is of the
	// pending generation.
	lr, _, err := newAuth(t, path).NewLoginRequest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := protocol.ParseProof(lr.Proof)
	claims, err := env.Open(f.keys[0])
	if err != nil || claims.Generation() != 2 || len(claims.Challenge()) != 0 {
		t.Fatalf("proof of generation %d with challenge %x: %v", claims.Generation(), claims.Challenge(), err)
	}
	if err := claims.Verify(s.Pending.Entropy, s.Pending.sampling()); err != nil {
		t.Fatal(err)
	}

	// In challenge mode it fetches a challenge, without the token.
	s.ChallengeRequired = true
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := newAuth(t, path).NewLoginRequest(context.Background(), nil); err == nil {
		t.Fatal("challenge mode without a Vault client")
	}
	lr, _, err = newAuth(t, path).NewLoginRequest(context.Background(), f.client(t))
	if err != nil {
		t.Fatal(err)
	}
	env, _ = protocol.ParseProof(lr.Proof)
	claims, _ = env.Open(f.keys[0])
	if err := claims.CheckChallenge(f.challengeKey, time.Now()); err != nil {
		t.Fatalf("proof's challenge: %v", err)
	}
	if err := claims.Verify(s.Pending.Entropy, s.Pending.sampling()); err != nil {
		t.Fatal(err)
	}
	if got := f.paths(); got[len(got)-1] != "PUT /v1/auth/entropy/challenge" {
		t.Fatalf("requests %v", got)
	}
	f.checkUnauthenticated(t)
}

func TestLoginRotatesAndPromotes(t *testing.T) {
	f, path := newRotatingFake(t)
	c := f.client(t)
	for i := 1; i <= 10; i++ {
		secret, err := c.Auth().Login(context.Background(), newAuth(t, path))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if c.Token() != secret.Auth.ClientToken || !strings.HasPrefix(c.Token(), "hvs.token-") {
			t.Fatalf("login %d: token %q not set", i, c.Token())
		}
		c.SetToken("operator-token")
		// Login i proves generation i (the pending one from i > 1 on),
		// which promotes it, and is handed generation i+1.
		s := mustLoad(t, path)
		gen, pending, pendingEntropy := f.serverState()
		if s.Generation != uint64(i) || gen != uint64(i) || s.Pending == nil || s.Pending.Generation != uint64(i+1) ||
			pending != uint64(i+1) || !bytes.Equal(s.Pending.Entropy, pendingEntropy) {
			t.Fatalf("after login %d: state %v, server at %d pending %d", i, s, gen, pending)
		}
	}
	f.checkUnauthenticated(t)

	// Without a new rotation, proving the pending generation promotes it
	// and leaves nothing pending.
	f.with(func() { f.rotate = false })
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
		t.Fatal(err)
	}
	if s := mustLoad(t, path); s.Generation != 11 || s.Pending != nil {
		t.Fatalf("state %v", s)
	}
	// And a login that changes nothing does not rewrite the file.
	before, _ := os.Stat(path)
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("a login that changed nothing rewrote the state")
	}
	if n := f.cloneCount(); n != 0 {
		t.Fatalf("%d clones", n)
	}
}

func TestCrashBeforeSaveKeepsTheOldState(t *testing.T) {
	cases := []struct {
		name string
		// logins before the crash, all saved
		before int
		// state after the crash and after the next login
		wantGen, wantPending uint64
	}{
		{"handed a new generation", 0, 1, 2},
		{"proving the pending generation", 1, 2, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newRotatingFake(t)
			c := f.client(t)
			for range tc.before {
				if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
					t.Fatal(err)
				}
			}
			c.SetToken("operator-token")
			old := mustRead(t, path)

			crashing := newAuth(t, path)
			crash := errors.New("killed")
			crashing.beforeSave = func() error { return crash }
			secret, err := c.Auth().Login(context.Background(), crashing)
			if !errors.Is(err, crash) || secret != nil || c.Token() != "operator-token" {
				t.Fatalf("crashed login = %v, %v, token %q", secret, err, c.Token())
			}
			if !bytes.Equal(mustRead(t, path), old) {
				t.Fatal("the state changed although the login stopped before saving")
			}

			// The next login proves what the old state holds; the server
			// accepts it and hands out its pending generation again.
			for i := range 3 {
				if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
					t.Fatalf("login %d after the crash: %v", i, err)
				}
				if i == 0 {
					s := mustLoad(t, path)
					_, pending, pendingEntropy := f.serverState()
					if s.Generation != tc.wantGen || s.Pending == nil || s.Pending.Generation != tc.wantPending ||
						pending != tc.wantPending || !bytes.Equal(s.Pending.Entropy, pendingEntropy) {
						t.Fatalf("after the crash: state %v, server pending %d", s, pending)
					}
				}
			}
			if n := f.cloneCount(); n != 0 {
				t.Fatalf("%d clones", n)
			}
		})
	}
}

func TestLoginRefusesResponsesWithoutAValidReceipt(t *testing.T) {
	cases := []struct {
		name        string
		editReceipt func(f *fakeVault, r *protocol.Receipt)
		editBody    func(f *fakeVault, body map[string]interface{})
		want        error
	}{
		{"no receipt", nil, func(_ *fakeVault, b map[string]interface{}) { delete(b, "data") }, ErrNoReceipt},
		{"empty receipt", nil, func(_ *fakeVault, b map[string]interface{}) { b["data"] = map[string]interface{}{"receipt": ""} }, ErrNoReceipt},
		{"receipt not a string", nil, func(_ *fakeVault, b map[string]interface{}) { b["data"] = map[string]interface{}{"receipt": 7} }, ErrNoReceipt},
		{"garbage receipt", nil, func(_ *fakeVault, b map[string]interface{}) {
			b["data"] = map[string]interface{}{"receipt": "bm90IGEgcmVjZWlwdA"}
		}, ErrReceipt},
		{"tampered receipt", nil, func(_ *fakeVault, b map[string]interface{}) {
			d := b["data"].(map[string]interface{})
			r := []byte(d["receipt"].(string))
			r[len(r)/2] ^= 'A' ^ 'B'
			if r[len(r)/2] == d["receipt"].(string)[len(r)/2] {
				r[len(r)/2] = 'A'
			}
			d["receipt"] = string(r)
		}, ErrReceipt},
		{"another login's receipt", nil, func(f *fakeVault, b map[string]interface{}) {
			b["data"] = map[string]interface{}{"receipt": f.lastReceipt}
		}, ErrReceipt},
		{"token of another login", nil, func(_ *fakeVault, b map[string]interface{}) {
			b["auth"].(map[string]interface{})["metadata"].(map[string]string)["login_id"] = strings.Repeat("0", 32)
		}, ErrReceipt},
		{"token without login_id", nil, func(_ *fakeVault, b map[string]interface{}) {
			delete(b["auth"].(map[string]interface{})["metadata"].(map[string]string), "login_id")
		}, ErrReceipt},
		{"receipt of another client", func(_ *fakeVault, r *protocol.Receipt) { r.ClientID = "agent-2" }, nil, ErrReceipt},
		{"receipt of another generation", func(_ *fakeVault, r *protocol.Receipt) { r.Generation++ }, nil, ErrReceipt},
		{"rotation skipping a generation", func(f *fakeVault, r *protocol.Receipt) {
			r.Rotation = &protocol.Rotation{Generation: f.generation + 2, Entropy: make([]byte, fakeEntropySize), SampleCount: 8, SampleLength: 32}
		}, nil, ErrReceipt},
		{"rotation with bad sampling", func(f *fakeVault, r *protocol.Receipt) {
			r.Rotation = &protocol.Rotation{Generation: f.generation + 1, Entropy: make([]byte, 100), SampleCount: 8, SampleLength: 32}
		}, nil, ErrReceipt},
		{"server keys without a valid current key", func(_ *fakeVault, r *protocol.Receipt) {
			r.ServerKeys = []protocol.PublishedKey{{KeyID: "k", Suite: "rot13", Current: true}}
		}, nil, ErrReceipt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newRotatingFake(t)
			c := f.client(t)
			// One good login first, so that there is another login's
			// receipt to replay, and a pending generation to keep.
			if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
				t.Fatal(err)
			}
			c.SetToken("operator-token")
			old := mustRead(t, path)
			f.mu.Lock()
			if tc.editReceipt != nil {
				f.editReceipt = func(r *protocol.Receipt) { tc.editReceipt(f, r) }
			}
			if tc.editBody != nil {
				f.editBody = func(b map[string]interface{}) { tc.editBody(f, b) }
			}
			f.mu.Unlock()

			secret, err := c.Auth().Login(context.Background(), newAuth(t, path))
			if !errors.Is(err, tc.want) || secret != nil {
				t.Fatalf("login = %v, %v; want %v", secret, err, tc.want)
			}
			if c.Token() != "operator-token" {
				t.Fatalf("the refused response's token was set: %q", c.Token())
			}
			if !bytes.Equal(mustRead(t, path), old) {
				t.Fatal("a refused response changed the state")
			}

			f.mu.Lock()
			f.editReceipt, f.editBody = nil, nil
			f.mu.Unlock()
			if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
				t.Fatalf("the next login: %v", err)
			}
		})
	}
}

func TestLoginMapsRefusals(t *testing.T) {
	f := newFakeVault(t)
	path := f.stateFile(t)
	c := f.client(t)

	f.with(func() { f.clientID = "agent-2" }) // the server does not know this client: 403
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, ErrLoginRefused) ||
		!strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "agent-1") {
		t.Fatalf("403: %v", err)
	}
	f.with(func() { f.clientID, f.refuseWith = "agent-1", "missing proof" })
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, ErrLoginRefused) ||
		errors.Is(err, protocol.ErrKeyNotAccepted) || errors.Is(err, protocol.ErrChallengeRequired) {
		t.Fatalf("400: %v", err)
	}
	f.with(func() { f.refuseWith, f.editBody = "", func(b map[string]interface{}) { delete(b, "auth") } })
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("no token: %v", err)
	}
	f.srv.Close()
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err == nil || errors.Is(err, ErrLoginRefused) {
		t.Fatalf("unreachable Vault reported as %v", err)
	}
}

func TestLoginFetchesKeysOnce(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fakeVault)
		// the requests Login makes, and whether it succeeds
		want       []string
		ok         bool
		keysStored bool
	}{
		{"key rotated, old one in grace", func(f *fakeVault) { f.rotateKey() },
			[]string{"PUT /v1/auth/entropy/login"}, true, true},
		{"key rotated twice, old one retired", func(f *fakeVault) { f.rotateKey(); f.rotateKey(); f.retireOldKeys() },
			[]string{"PUT /v1/auth/entropy/login", "GET /v1/auth/entropy/keys", "PUT /v1/auth/entropy/login"}, true, true},
		{"no key accepted", func(f *fakeVault) { f.rotateKey(); f.accepted = map[string]bool{} },
			[]string{"PUT /v1/auth/entropy/login", "GET /v1/auth/entropy/keys", "PUT /v1/auth/entropy/login"}, false, false},
		{"keys endpoint still names the refused key", func(f *fakeVault) { f.accepted = map[string]bool{} },
			[]string{"PUT /v1/auth/entropy/login", "GET /v1/auth/entropy/keys"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			path := f.stateFile(t)
			old := mustLoad(t, path)
			f.with(func() { tc.setup(f) })
			c := f.client(t)
			_, err := c.Auth().Login(context.Background(), newAuth(t, path))
			if (err == nil) != tc.ok {
				t.Fatalf("login: %v", err)
			}
			if !tc.ok && (!errors.Is(err, ErrLoginRefused) || !errors.Is(err, protocol.ErrKeyNotAccepted)) {
				t.Fatalf("login: %v", err)
			}
			if got := f.paths(); !slices.Equal(got, tc.want) {
				t.Fatalf("requests %v, want %v", got, tc.want)
			}
			f.checkUnauthenticated(t)
			s := mustLoad(t, path)
			if stored := !sameKeys(s.ServerKeys, old.ServerKeys); stored != tc.keysStored {
				t.Fatalf("keys stored: %v", stored)
			}
			if tc.keysStored {
				f.mu.Lock()
				want := f.published()
				f.mu.Unlock()
				if !sameKeys(s.ServerKeys, want) {
					t.Fatalf("stored keys %v, want %v", s.ServerKeys, want)
				}
				// The next login seals to the new key at once.
				f.with(func() { f.requests = nil })
				if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil || len(f.paths()) != 1 {
					t.Fatalf("next login: %v, requests %v", err, f.paths())
				}
			}
		})
	}
}

func TestLoginChallengeMode(t *testing.T) {
	cases := []struct {
		name            string
		stateRequires   bool
		serverRequires  bool
		refuseWith      string
		want            []string
		ok              bool
		stateAfter      bool
		challengedProof int
	}{
		{"from the start", true, true, "",
			[]string{"PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/login"}, true, true, 1},
		{"learned from the refusal", false, true, "",
			[]string{"PUT /v1/auth/entropy/login", "PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/login"}, true, true, 1},
		{"no longer required", true, false, "",
			[]string{"PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/login"}, true, false, 1},
		{"refused again: no loop", false, true, protocol.ErrChallengeRequired.Error(),
			[]string{"PUT /v1/auth/entropy/login", "PUT /v1/auth/entropy/challenge", "PUT /v1/auth/entropy/login"}, false, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			f.challengeRequired = tc.stateRequires
			path := f.stateFile(t)
			f.with(func() { f.challengeRequired, f.refuseWith = tc.serverRequires, tc.refuseWith })
			c := f.client(t)
			_, err := c.Auth().Login(context.Background(), newAuth(t, path))
			if (err == nil) != tc.ok {
				t.Fatalf("login: %v", err)
			}
			if !tc.ok && !errors.Is(err, protocol.ErrChallengeRequired) {
				t.Fatalf("login: %v", err)
			}
			if got := f.paths(); !slices.Equal(got, tc.want) {
				t.Fatalf("requests %v, want %v", got, tc.want)
			}
			f.checkUnauthenticated(t)
			f.with(func() {
				if f.challenged != tc.challengedProof {
					t.Errorf("%d proofs with a challenge", f.challenged)
				}
			})
			if s := mustLoad(t, path); s.ChallengeRequired != tc.stateAfter {
				t.Fatalf("state challenge_required = %v", s.ChallengeRequired)
			}
		})
	}
}

func TestConcurrentLoginsShareOneStateFile(t *testing.T) {
	f, path := newRotatingFake(t) // every login changes the state
	const workers, logins = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*logins)
	for w := range workers {
		wg.Go(func() {
			// A client and an auth method of its own, as another process
			// would have.
			c := f.client(t)
			auth := newAuth(t, path)
			for i := range logins {
				if _, err := c.Auth().Login(context.Background(), auth); err != nil {
					errs <- fmt.Errorf("worker %d login %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := mustLoad(t, path)
	gen, pending, _ := f.serverState()
	if n := f.cloneCount(); n != 0 || s.Generation != gen || s.Pending == nil || s.Pending.Generation != pending || gen != workers*logins {
		t.Fatalf("state %v; server at %d pending %d, %d clones", s, gen, pending, n)
	}
}

// FetchKeys reads the keys endpoint and stores nothing: the endpoint is
// unauthenticated, and keys enter the state only through a receipt.
func TestFetchKeysStoresNothing(t *testing.T) {
	f := newFakeVault(t)
	path := f.stateFile(t)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.with(f.rotateKey)
	keys, err := newAuth(t, path).FetchKeys(context.Background(), f.client(t))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	want := f.published()
	f.mu.Unlock()
	if !sameKeys(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, saved) {
		t.Fatal("fetching the keys changed the state file")
	}
	if got := f.paths(); !slices.Equal(got, []string{"GET /v1/auth/entropy/keys"}) {
		t.Fatalf("requests %v", got)
	}
	f.checkUnauthenticated(t)
}

// FetchKeys refuses a list from the keys endpoint that breaks the rules of
// a published key list (docs/protocol.md §3.1, §17.1).
func TestFetchKeysRefusesMalformedLists(t *testing.T) {
	cases := map[string]func(f *fakeVault){
		"current_key_id names another key": func(f *fakeVault) { f.currentKeyID = "0000000000000000" },
		"current key listed second": func(f *fakeVault) {
			f.editKeys = func(keys []map[string]interface{}) { keys[0], keys[1] = keys[1], keys[0] }
		},
		"two current keys": func(f *fakeVault) {
			f.editKeys = func(keys []map[string]interface{}) { keys[1]["current"] = true }
		},
		"no current key": func(f *fakeVault) {
			f.editKeys = func(keys []map[string]interface{}) { keys[0]["current"] = false }
		},
		"a key listed twice": func(f *fakeVault) {
			f.editKeys = func(keys []map[string]interface{}) { keys[1] = maps.Clone(keys[0]); keys[1]["current"] = false }
		},
		"public key with a line break": func(f *fakeVault) {
			f.editKeys = func(keys []map[string]interface{}) {
				pk := keys[0]["public_key"].(string)
				keys[0]["public_key"] = pk[:20] + "\n" + pk[20:]
			}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFakeVault(t)
			path := f.stateFile(t)
			f.with(func() { f.rotateKey(); edit(f) })
			if keys, err := newAuth(t, path).FetchKeys(context.Background(), f.client(t)); err == nil {
				t.Fatalf("FetchKeys accepted %v", keys)
			}
		})
	}
	t.Run("well formed", func(t *testing.T) {
		f := newFakeVault(t)
		path := f.stateFile(t)
		f.with(f.rotateKey)
		if _, err := newAuth(t, path).FetchKeys(context.Background(), f.client(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// scaleWindowRetries runs the retries after a "make a new proof" refusal
// 1000 times faster: 4 ms first, 608 ms in all.
func scaleWindowRetries(t *testing.T) {
	first, span := windowRetryFirst, windowRetrySpan
	windowRetryFirst, windowRetrySpan = first/1000, span/1000
	t.Cleanup(func() { windowRetryFirst, windowRetrySpan = first, span })
}

func TestWindowRetryDelays(t *testing.T) {
	got := windowRetryDelays()
	want := []time.Duration{4, 8, 16, 32, 64, 128, 256, 100}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestLoginRetriesWithANewProofAfterTheServerStarted(t *testing.T) {
	scaleWindowRetries(t)
	cases := []struct {
		name      string
		refusals  int
		ok        bool
		wantCalls int
	}{
		{"accepted at once", 0, true, 1},
		{"refused twice, then a new proof passes", 2, true, 3},
		// Nine proofs at most for one unauthenticated refusal: each is a
		// valid proof that whoever answered could keep.
		{"refused every time: gives up after eight retries", 100, false, 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			path := f.stateFile(t)
			f.with(func() { f.windowRefusals = tc.refusals })
			start := time.Now()
			secret, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path))
			if (err == nil) != tc.ok {
				t.Fatalf("login: %v", err)
			}
			if !tc.ok && (!errors.Is(err, ErrLoginRefused) || !errors.Is(err, protocol.ErrProofPredatesWindow)) {
				t.Fatalf("gave up with %v", err)
			}
			if !tc.ok && time.Since(start) < windowRetrySpan {
				t.Fatalf("gave up after %s, before the window of %s can have closed", time.Since(start), windowRetrySpan)
			}
			if tc.ok && secret.Auth.ClientToken == "" {
				t.Fatal("no token")
			}
			if got := len(f.paths()); got != tc.wantCalls {
				t.Fatalf("%d requests, want %d", got, tc.wantCalls)
			}
			f.with(func() {
				seen := map[string]bool{}
				for _, p := range f.windowRefused {
					if seen[p] {
						t.Error("the same proof was sent twice")
					}
					seen[p] = true
				}
			})
		})
	}
	t.Run("stops when the context ends", func(t *testing.T) {
		windowRetryFirst = time.Hour
		f := newFakeVault(t)
		path := f.stateFile(t)
		f.with(func() { f.windowRefusals = 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := f.client(t).Auth().Login(ctx, newAuth(t, path)); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLoginRefused) {
			t.Fatalf("login: %v", err)
		}
	})
}

// TestLoginThroughTheWindowWithAClockBehind: a server that has just started
// refuses proofs issued at or before its watermark, at most 7 s past its
// start (docs/protocol.md §8.3); a client whose clock is behind by d is
// refused for up to 8 s + d, and d may be as large as the allowed skew
// (at most 10 minutes). The library keeps trying for that long, with a
// bounded number of proofs. Time runs 1000 times faster here: the client's
// and the server's clocks as much as the library's waits.
func TestLoginThroughTheWindowWithAClockBehind(t *testing.T) {
	for _, behind := range []time.Duration{0, 5 * time.Second, time.Minute, 10 * time.Minute} {
		t.Run(behind.String(), func(t *testing.T) {
			scaleWindowRetries(t)
			start := time.Now()
			fast := func() time.Time { return start.Add(1000 * time.Since(start)) }
			f := newFakeVault(t)
			path := f.stateFile(t)
			f.with(func() {
				f.clock = fast
				// The largest skew a server allows is 10 minutes; a minute
				// more here, so that a client 10 minutes behind is not
				// refused as too old by the time a request takes at this
				// pace.
				f.skew = 11 * time.Minute
				// The last login before the start was accepted just now,
				// from a client 5 s ahead.
				f.watermark = fast().Unix() + 7
			})
			a := newAuth(t, path)
			a.now = func() time.Time { return fast().Add(-behind) }
			if _, err := f.client(t).Auth().Login(context.Background(), a); err != nil {
				t.Fatalf("a client %s behind, right after a start: %v", behind, err)
			}
			f.with(func() {
				if n := len(f.windowRefused); n > 8 {
					t.Errorf("%d proofs refused, more than the 8 retries", n)
				}
				if behind > 10*time.Second && len(f.windowRefused) == 0 {
					t.Error("the window refused nothing: the test tests nothing")
				}
			})
		})
	}
}

// A server that refuses the pending generation without a word (say it was
// restored from a backup taken before it issued it) does not lock the
// client out: Login proves the current generation instead, once.
func TestLoginFallsBackToTheCurrentGenerationOnce(t *testing.T) {
	t.Run("the current generation is accepted", func(t *testing.T) {
		f, path := newRotatingFake(t)
		if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); err != nil {
			t.Fatal(err)
		}
		if s := mustLoad(t, path); s.Pending == nil || s.Pending.Generation != 2 {
			t.Fatalf("no pending generation 2 after a rotation: %+v", s.Pending)
		}
		// The server forgets generation 2 and will hand out another one.
		f.with(func() { delete(f.entropy, f.pending); f.pending = 0 })
		before := len(f.paths())
		if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); err != nil {
			t.Fatalf("login after the server lost the pending generation: %v", err)
		}
		if n := len(f.paths()) - before; n != 2 {
			t.Fatalf("%d requests, want 2 (pending refused, current accepted)", n)
		}
		_, pending, pendingEntropy := f.serverState()
		s := mustLoad(t, path)
		if s.Generation != 1 || s.Pending == nil || s.Pending.Generation != pending || !bytes.Equal(s.Pending.Entropy, pendingEntropy) {
			t.Fatalf("state after the fallback: generation %d, pending %+v; the server's pending %d", s.Generation, s.Pending, pending)
		}
		if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); err != nil {
			t.Fatalf("proving the new pending generation: %v", err)
		}
	})
	t.Run("both refused: once, and the state is unchanged", func(t *testing.T) {
		f, path := newRotatingFake(t)
		if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); err != nil {
			t.Fatal(err)
		}
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f.with(func() { f.denyAll = true })
		before := len(f.paths())
		if _, err := f.client(t).Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, ErrLoginRefused) {
			t.Fatalf("login: %v, want ErrLoginRefused", err)
		}
		if n := len(f.paths()) - before; n != 2 {
			t.Fatalf("%d requests, want 2: one fallback, no more", n)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, saved) {
			t.Fatal("a refused login changed the state file")
		}
	})
}
