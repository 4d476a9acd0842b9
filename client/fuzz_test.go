package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// The client decodes four things it did not write itself or that may have
// been damaged: the enrollment bundle, the state file, the keys endpoint's
// response and the receipt of each login (opened by protocol, applied to
// the state by advance). Seeds come from a protocol test vector, so that
// every fuzz process starts from the same valid values.

// fuzzSeedState is a valid state built from docs/vectors/ok_xwing: its
// server key, names, entropy and sampling.
func fuzzSeedState(tb testing.TB) *State {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "vectors", "ok_xwing"))
	if err != nil {
		tb.Fatal(err)
	}
	head, _, _ := strings.Cut(string(data), "\n\n")
	h := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h[k] = v
	}
	b64 := func(k string) []byte {
		b, err := base64.StdEncoding.DecodeString(h[k])
		if err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		return b
	}
	num := func(k string) int {
		n, err := strconv.Atoi(h[k])
		if err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		return n
	}
	s := &State{
		Version: stateVersion, MountPath: "auth/entropy", Role: h["role"], ClientID: h["client_id"],
		Generation: uint64(num("generation")), Entropy: b64("entropy"),
		SampleCount: num("sample_count"), SampleLength: num("sample_length"),
		ServerKeys: []ServerKey{{KeyID: h["key_id"], Suite: h["suite"], PublicKey: b64("server_public_key"), Current: true}},
	}
	if err := s.Validate(); err != nil {
		tb.Fatalf("seed state: %v", err)
	}
	return s
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzStateFromBundle: the bundle arrives through a wrapping token and may
// be anything. An accepted bundle gives a valid state at its first
// generation, with nothing pending, that encodes to a bundle giving the
// same state again.
func FuzzStateFromBundle(f *testing.F) {
	s := fuzzSeedState(f)
	b := bundle{BundleVersion: bundleVersion, State: *s}
	inner := mustJSON(f, b)
	f.Add(inner)
	f.Add(mustJSON(f, map[string]any{"request_id": "x", "data": json.RawMessage(inner)}))
	b.Pending = &PendingGeneration{Generation: 2, Entropy: s.Entropy, SampleCount: 16, SampleLength: 32}
	f.Add(mustJSON(f, b))
	f.Add([]byte(`{"data":null,"bundle_version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := StateFromBundle(raw)
		if err != nil {
			if st != nil {
				t.Fatal("an error with a state")
			}
			return
		}
		if err := st.Validate(); err != nil || st.Pending != nil || st.Version != stateVersion {
			t.Fatalf("accepted an invalid state (%v), pending %v", err, st.Pending)
		}
		again, err := StateFromBundle(mustJSON(t, bundle{BundleVersion: bundleVersion, State: *st}))
		if err != nil || !bytes.Equal(mustJSON(t, again), mustJSON(t, st)) {
			t.Fatalf("the accepted state does not round-trip: %v", err)
		}
	})
}

// FuzzLoadState: a state file may be damaged or edited by hand. LoadState
// refuses it as corrupt, or returns a valid state whose encoding loads as
// the same state.
func FuzzLoadState(f *testing.F) {
	s := fuzzSeedState(f)
	f.Add(mustJSON(f, s))
	s.Pending = &PendingGeneration{Generation: s.Generation + 1, Entropy: s.Entropy, SampleCount: 8, SampleLength: 64}
	s.ChallengeRequired = true
	f.Add(mustJSON(f, s))
	f.Add([]byte(`{"state_version":1}`))
	f.Add([]byte(`{} trailing`))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer's bytes are not secrets (the seeds' entropy is a
		// public test vector): a plain write, 0600 as LoadState requires,
		// spares each input the sync of WriteSecretFile.
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := LoadState(path)
		if err != nil {
			if st != nil || !errors.Is(err, ErrCorruptState) {
				t.Fatalf("refused with %v and %v", st, err)
			}
			return
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("loaded an invalid state: %v", err)
		}
		enc, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, enc, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := LoadState(path)
		if err != nil || !bytes.Equal(mustJSON(t, again), mustJSON(t, st)) {
			t.Fatalf("the loaded state does not round-trip: %v", err)
		}
	})
}

// FuzzServerKeys: the keys endpoint's data.keys, as fetchKeys decodes it.
// The key a proof would be sealed to is the one marked current (else the
// first), and only if it parses under its own key_id.
func FuzzServerKeys(f *testing.F) {
	s := fuzzSeedState(f)
	f.Add(mustJSON(f, s.ServerKeys))
	old := s.ServerKeys[0]
	old.Current = false
	f.Add(mustJSON(f, []ServerKey{old, s.ServerKeys[0]}))
	old.KeyID = "0000000000000000"
	f.Add(mustJSON(f, []ServerKey{old}))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"suite":"p256-hkdf-sha256-aes-256-gcm","public_key":"AA==","current":true}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var keys []ServerKey
		if err := json.Unmarshal(raw, &keys); err != nil {
			return
		}
		pk, err := currentKey(keys)
		if err != nil {
			if pk != nil {
				t.Fatal("an error with a key")
			}
			return
		}
		want := &keys[0]
		for i := range keys {
			if keys[i].Current {
				want = &keys[i]
				break
			}
		}
		if pk.ID().String() != want.KeyID || pk.Suite().String() != want.Suite || !bytes.Equal(pk.Bytes(), want.PublicKey) {
			t.Fatalf("sealing to key %s, which is not the current key %s", pk.ID(), want.KeyID)
		}
	})
}

// FuzzAdvance applies a receipt's content, as OpenReceipt decodes it, to a
// state with a pending generation. advance must not change the state it
// is given, and the state it returns is valid, at the generation proven,
// with any pending generation the one after it.
func FuzzAdvance(f *testing.F) {
	s := fuzzSeedState(f)
	s.Pending = &PendingGeneration{Generation: s.Generation + 1, Entropy: s.Entropy, SampleCount: 8, SampleLength: 64}
	base := protocol.Receipt{Version: 1, Role: s.Role, ClientID: s.ClientID, Generation: s.Generation}
	f.Add(mustJSON(f, base), false)
	r := base
	r.Rotation = &protocol.Rotation{Generation: s.Generation + 2, Entropy: s.Entropy, SampleCount: 32, SampleLength: 32}
	r.ServerKeys = s.ServerKeys
	r.ChallengeRequired = true
	f.Add(mustJSON(f, r), true)
	r.Rotation.Generation = s.Generation + 1
	f.Add(mustJSON(f, r), false)
	f.Add([]byte(`{"server_keys":[{"key_id":"x","current":true}]}`), false)
	f.Fuzz(func(t *testing.T, raw []byte, provePending bool) {
		var r protocol.Receipt
		if err := json.Unmarshal(raw, &r); err != nil {
			return
		}
		st := fuzzSeedState(t)
		st.Pending = &PendingGeneration{Generation: st.Generation + 1, Entropy: st.Entropy, SampleCount: 8, SampleLength: 64}
		before := mustJSON(t, st)
		proven := st.Generation
		if provePending {
			proven = st.Pending.Generation
		}
		next, changed, err := st.advance(proven, st.ServerKeys, &r)
		if after := mustJSON(t, st); !bytes.Equal(before, after) {
			t.Fatal("advance changed the state it was given")
		}
		if err != nil {
			if next != nil || !errors.Is(err, ErrReceipt) {
				t.Fatalf("refused with %v and %v", next, err)
			}
			return
		}
		if err := next.Validate(); err != nil {
			t.Fatalf("advanced to an invalid state: %v", err)
		}
		if next.Generation != proven {
			t.Fatalf("at generation %d after proving %d", next.Generation, proven)
		}
		if p := next.Pending; p != nil && p.Generation != next.Generation+1 {
			t.Fatalf("pending generation %d after %d", p.Generation, next.Generation)
		}
		if !changed && !bytes.Equal(mustJSON(t, next), before) {
			t.Fatal("advance changed the state but said it did not")
		}
	})
}

// FuzzDecodeState: an encoded state arrives through an environment
// variable or stdin, pasted into a secret store by hand, and may be
// anything. DecodeState refuses it with ErrEncodedState, or returns a
// valid state; an accepted encoded form holds no pending generation and
// encodes back to itself (white space aside).
func FuzzDecodeState(f *testing.F) {
	s := fuzzSeedState(f)
	e, err := EncodeState(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(e))
	f.Add([]byte(e + "\n"))
	f.Add(mustJSON(f, s))
	f.Add([]byte("ves1.e30.AAAA"))
	f.Add([]byte("ves2." + strings.TrimPrefix(e, "ves1.")))
	f.Add([]byte("/path/to/state.json"))
	f.Fuzz(func(t *testing.T, text []byte) {
		st, err := DecodeState(text)
		if err != nil {
			if st != nil || !errors.Is(err, ErrEncodedState) {
				t.Fatalf("error %v with state %v", err, st)
			}
			return
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("accepted an invalid state: %v", err)
		}
		trimmed := bytes.TrimSpace(text)
		if trimmed[0] == '{' {
			return
		}
		if st.Pending != nil {
			t.Fatal("an encoded state planted a pending generation")
		}
		again, err := EncodeState(st)
		if err != nil || again != string(trimmed) {
			t.Fatalf("the accepted encoding does not round-trip: %v", err)
		}
	})
}
