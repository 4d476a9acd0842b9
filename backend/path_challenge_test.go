package backend

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func challengeData(role, id string, n *protocol.Nonce) map[string]interface{} {
	c := n.Commitment()
	return map[string]interface{}{"role": role, "client_id": id, "nonce_commitment": base64.RawURLEncoding.EncodeToString(c[:])}
}

func TestChallengeLogin(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"challenge_required": true})
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})

	n, err := protocol.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData("web", "a", n)).Data
	challenge, err := base64.RawURLEncoding.Strict().DecodeString(d["challenge"].(string))
	if err != nil || len(challenge) != protocol.ChallengeSize {
		t.Fatalf("challenge %q: %v", d["challenge"], err)
	}
	expires, err := time.Parse(time.RFC3339, d["expires_at"].(string))
	if err != nil || expires.Before(now.Add(challengeTTL-2*time.Second)) || expires.After(now.Add(challengeTTL+time.Second)) {
		t.Fatalf("expires_at %v (now %v): %v", d["expires_at"], now, err)
	}

	proof := c.challengedProofAt(t, time.Now(), challenge, n)
	resp := mustOK(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": "web", "client_id": "a", "proof": proof})
	if resp.Auth == nil {
		t.Fatal("no auth")
	}
}

func TestChallengeIsStatelessAndRevealsNothing(t *testing.T) {
	b, s := getTestBackend(t)
	n, _ := protocol.NewNonce()

	// The mount's initialization made the MAC key (in SealWrapStorage,
	// which TestBackendReportsVersionAndSpecialPaths checks); a challenge
	// writes nothing at all (init_test.go), and has the same answer shape
	// whether or not the role and client exist.
	if k := storageSnapshot(t, s)[challengeKeyStorageKey]; len(k) != protocol.ChallengeKeySize {
		t.Fatalf("challenge key after initialization: %d bytes", len(k))
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	before := storageSnapshot(t, s)
	seen := map[string]bool{}
	for _, names := range [][2]string{{"web", "a"}, {"web", "nobody"}, {"no-role", "a"}} {
		d := mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData(names[0], names[1], n)).Data
		if len(d) != 2 || d["challenge"] == "" || d["expires_at"] == "" {
			t.Fatalf("%v: %v", names, d)
		}
		if seen[d["challenge"].(string)] {
			t.Fatal("two challenges are equal")
		}
		seen[d["challenge"].(string)] = true
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatal("challenge wrote to storage")
	}
}

func TestChallengeRejectsBadInput(t *testing.T) {
	n, _ := protocol.NewNonce()
	c := n.Commitment()
	good := base64.RawURLEncoding.EncodeToString(c[:])
	// A value whose last character carries non-zero padding bits: the
	// lenient decoder would accept it as another spelling of some value.
	nonCanonical := good[:42] + string(nonZeroTail(good[42]))

	cases := map[string]map[string]interface{}{
		"missing role":         {"client_id": "a", "nonce_commitment": good},
		"bad role":             {"role": "Web", "client_id": "a", "nonce_commitment": good},
		"role too long":        {"role": strings.Repeat("a", protocol.MaxNameLen+1), "client_id": "a", "nonce_commitment": good},
		"missing client_id":    {"role": "web", "nonce_commitment": good},
		"bad client_id":        {"role": "web", "client_id": "a/b", "nonce_commitment": good},
		"missing commitment":   {"role": "web", "client_id": "a"},
		"padded":               {"role": "web", "client_id": "a", "nonce_commitment": good + "="},
		"standard alphabet":    {"role": "web", "client_id": "a", "nonce_commitment": base64.RawStdEncoding.EncodeToString(fill(c[:], 0xfb))},
		"31 bytes":             {"role": "web", "client_id": "a", "nonce_commitment": base64.RawURLEncoding.EncodeToString(c[:31])},
		"33 bytes":             {"role": "web", "client_id": "a", "nonce_commitment": base64.RawURLEncoding.EncodeToString(append(c[:], 0))},
		"newline inside":       {"role": "web", "client_id": "a", "nonce_commitment": good[:20] + "\n" + good[21:]},
		"trailing newline":     {"role": "web", "client_id": "a", "nonce_commitment": good + "\n"},
		"non-canonical bits":   {"role": "web", "client_id": "a", "nonce_commitment": nonCanonical},
		"hex":                  {"role": "web", "client_id": "a", "nonce_commitment": strings.Repeat("ab", 32)},
		"commitment not plain": {"role": "web", "client_id": "a", "nonce_commitment": map[string]interface{}{"x": 1}},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustFail(t, b, s, logical.UpdateOperation, "challenge", data)
		})
	}
}

// fill returns b with every byte set to v: its standard base64 has '+' or
// '/' in it.
func fill(b []byte, v byte) []byte {
	out := make([]byte, len(b))
	for i := range out {
		out[i] = v
	}
	return out
}

// nonZeroTail returns a base64url character with the same top 4 bits as c
// (the last character of 32 bytes carries 4 data bits) but other low bits.
func nonZeroTail(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i|1]
}

// readRecorder is storage that records the keys read through it.
type readRecorder struct {
	logical.Storage
	mu    sync.Mutex
	reads []string
}

func (r *readRecorder) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	r.mu.Lock()
	r.reads = append(r.reads, key)
	r.mu.Unlock()
	return r.Storage.Get(ctx, key)
}

func TestChallengeReadsOnlyItsKey(t *testing.T) {
	b, s := getTestBackend(t)
	b.challengeKeyCache = atomic.Value{} // as after a restart that did not initialize
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	rec := &readRecorder{Storage: s}
	n, _ := protocol.NewNonce()
	for range 2 {
		mustOK(t, b, rec, logical.UpdateOperation, "challenge", challengeData("web", "a", n))
	}
	// Once, to load the key; then from the cache.
	if strings.Join(rec.reads, ",") != challengeKeyStorageKey {
		t.Fatalf("challenge read %v", rec.reads)
	}
}
