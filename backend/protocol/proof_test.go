package protocol

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testKeysOnce sync.Once
	testKeys     map[Suite]*PrivateKey
)

// serverKey returns one generated key per suite, shared by the package's
// tests because RSA-3072 generation is slow.
func serverKey(t testing.TB, s Suite) *PrivateKey {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys = map[Suite]*PrivateKey{}
		for _, s := range Suites() {
			k, err := GenerateKey(s)
			if err != nil {
				panic(err)
			}
			testKeys[s] = k
		}
	})
	return testKeys[s]
}

func testEntropy(t testing.TB, n int) []byte {
	t.Helper()
	e := make([]byte, n)
	if _, err := rand.Read(e); err != nil {
		t.Fatal(err)
	}
	return e
}

var testSampling = Sampling{Count: 32, Length: 32}

func testInput(t testing.TB, s Suite, entropy []byte) ProofInput {
	return ProofInput{
		ServerKey:  serverKey(t, s).Public(),
		Role:       "web",
		ClientID:   "client-1",
		Generation: 1,
		Entropy:    entropy,
		Sampling:   testSampling,
		IssuedAt:   time.Now(),
	}
}

// verifier is what a server knows when it checks a proof: its key, the
// request's names and its record of the client.
type verifier struct {
	sk             *PrivateKey
	role, clientID string
	generation     uint64
	sampling       Sampling
	skew           time.Duration
	now            time.Time
	entropy        []byte
}

// verify runs every check of docs/protocol.md §8 in order, except the
// server's own lookups and the replay check.
func (v *verifier) verify(proof string) (*Claims, error) {
	env, err := ParseProof(proof)
	if err != nil {
		return nil, err
	}
	c, err := env.Open(v.sk)
	if err != nil {
		return nil, err
	}
	if err := c.CheckHeader(v.role, v.clientID); err != nil {
		return nil, err
	}
	if err := c.CheckTime(v.now, v.skew); err != nil {
		return nil, err
	}
	// This verifier holds no challenge key: no challenge is valid.
	if len(c.Challenge()) > 0 {
		return nil, ErrChallenge
	}
	if c.Generation() != v.generation {
		return nil, ErrGeneration
	}
	return c, c.Verify(v.entropy, v.sampling)
}

// verify checks a proof made by testInput.
func verify(proof string, sk *PrivateKey, role, clientID string, entropy []byte, now time.Time) (*Claims, error) {
	v := &verifier{sk: sk, role: role, clientID: clientID, generation: 1, sampling: testSampling, skew: time.Minute, now: now, entropy: entropy}
	return v.verify(proof)
}

func TestProofRoundTripEverySuite(t *testing.T) {
	entropy := testEntropy(t, 64<<10)
	for _, s := range Suites() {
		for _, v := range []uint8{MinVersion, Version} {
			t.Run(fmt.Sprintf("%s/version_%d", s, v), func(t *testing.T) { roundTrip(t, s, v, entropy) })
		}
	}
}

func roundTrip(t *testing.T, s Suite, version uint8, entropy []byte) {
	in := testInput(t, s, entropy)
	in.Version = version
	proof, sess, err := NewProof(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(proof) > MaxProofLength {
		t.Fatalf("proof is %d characters, over MaxProofLength", len(proof))
	}
	c, err := verify(proof, serverKey(t, s), "web", "client-1", entropy, time.Now())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Generation() != 1 || c.Header.Version != version || c.Header.Suite != s || c.Header.KeyID != in.ServerKey.ID() {
		t.Fatalf("claims = %+v", c.Header)
	}

	sealed, err := c.SealResponse("confirm", []byte("hello client"), entropy)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sess.OpenResponse("confirm", sealed)
	if err != nil || string(got) != "hello client" {
		t.Fatalf("OpenResponse = %q, %v", got, err)
	}
	if _, err := sess.OpenResponse("other", sealed); !errors.Is(err, ErrResponse) {
		t.Fatalf("response opened under another purpose: %v", err)
	}

	// A second proof from another login cannot open this response.
	_, other, err := NewProof(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.OpenResponse("confirm", sealed); !errors.Is(err, ErrResponse) {
		t.Fatalf("response opened by another login's session: %v", err)
	}
}

// TestVersion2LeavesRangesOut: the whole point of version 2 is a shorter
// proof; its sealed payload is exactly u16(count) and the ranges shorter
// than version 1's, and both verify against the same entropy.
func TestVersion2LeavesRangesOut(t *testing.T) {
	entropy := testEntropy(t, 64<<10)
	in := testInput(t, SuiteXWing, entropy)
	in.Sampling = Sampling{Count: 320, Length: 32}
	lengths := map[uint8]int{}
	for _, v := range []uint8{1, 2} {
		in.Version = v
		proof, _, err := NewProof(in)
		if err != nil {
			t.Fatal(err)
		}
		vf := &verifier{sk: serverKey(t, SuiteXWing), role: "web", clientID: "client-1", generation: 1, sampling: in.Sampling, skew: time.Minute, now: time.Now(), entropy: entropy}
		if _, err := vf.verify(proof); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		wire, err := decodeCanonical(proof)
		if err != nil {
			t.Fatal(err)
		}
		lengths[v] = len(wire)
	}
	if d := lengths[1] - lengths[2]; d != 2+8*in.Sampling.Count {
		t.Fatalf("version 1 is %d bytes, version 2 %d: %d apart, want %d", lengths[1], lengths[2], d, 2+8*in.Sampling.Count)
	}
	t.Logf("320 x 32 bytes, X-Wing: version 1 %d bytes, version 2 %d bytes on the wire", lengths[1], lengths[2])
}

func TestProofRefusals(t *testing.T) {
	entropy := testEntropy(t, 64<<10)
	otherEntropy := testEntropy(t, 64<<10)
	now := time.Now()
	build := func(t *testing.T, mutate func(*ProofInput)) string {
		in := testInput(t, SuiteXWing, entropy)
		mutate(&in)
		p, _, err := NewProof(in)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name     string
		proof    func(t *testing.T) string
		sk       *PrivateKey
		role     string
		clientID string
		entropy  []byte
		want     error
	}{
		{name: "empty", proof: func(*testing.T) string { return "" }, want: ErrMalformed},
		{name: "not base64", proof: func(*testing.T) string { return "!!!" }, want: ErrMalformed},
		{name: "too long", proof: func(*testing.T) string { return string(make([]byte, MaxProofLength+1)) }, want: ErrMalformed},
		{name: "padded", proof: func(t *testing.T) string { return build(t, func(*ProofInput) {}) + "=" }, want: ErrMalformed},
		{name: "newline", proof: func(t *testing.T) string { p := build(t, func(*ProofInput) {}); return p[:10] + "\n" + p[10:] }, want: ErrMalformed},
		{name: "version", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[0] = 3 })
		}, want: ErrVersion},
		{name: "version 0", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[0] = 0 })
		}, want: ErrVersion},
		// A version 2 body is shorter than the least a version 1 payload
		// seals to; one with a long challenge is not, and does not open.
		{name: "version 2 relabelled 1", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[0] = 1 })
		}, want: ErrMalformed},
		{name: "version 2 with a challenge relabelled 1", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(in *ProofInput) { in.Challenge = make([]byte, 64) }), func(b []byte) { b[0] = 1 })
		}, want: ErrOpen},
		{name: "version 1 relabelled 2", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(in *ProofInput) { in.Version = 1 }), func(b []byte) { b[0] = 2 })
		}, want: ErrOpen},
		{name: "suite", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[1] = 9 })
		}, want: ErrSuite},
		{name: "truncated", proof: func(t *testing.T) string { return reencodeCut(t, build(t, func(*ProofInput) {}), 200) }, want: ErrMalformed},
		{name: "unknown key", proof: func(t *testing.T) string { return build(t, func(*ProofInput) {}) }, sk: serverKey(t, SuiteP256), want: ErrUnknownKey},
		{name: "tampered key id", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[2] ^= 1 })
		}, want: ErrUnknownKey},
		{name: "tampered header", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[11] = 'x' })
		}, role: "xeb", want: ErrOpen},
		{name: "tampered body", proof: func(t *testing.T) string {
			return reencode(t, build(t, func(*ProofInput) {}), func(b []byte) { b[len(b)-1] ^= 1 })
		}, want: ErrOpen},
		{name: "other role", proof: func(t *testing.T) string { return build(t, func(*ProofInput) {}) }, role: "db", want: ErrHeaderMismatch},
		{name: "other client", proof: func(t *testing.T) string { return build(t, func(*ProofInput) {}) }, clientID: "client-2", want: ErrHeaderMismatch},
		{name: "too old", proof: func(t *testing.T) string {
			return build(t, func(in *ProofInput) { in.IssuedAt = now.Add(-2 * time.Minute) })
		}, want: ErrTooOld},
		{name: "from future", proof: func(t *testing.T) string {
			return build(t, func(in *ProofInput) { in.IssuedAt = now.Add(2 * time.Minute) })
		}, want: ErrFromFuture},
		{name: "other sampling", proof: func(t *testing.T) string {
			return build(t, func(in *ProofInput) { in.Sampling = Sampling{Count: 16, Length: 64} })
		}, want: ErrDigest},
		{name: "version 1 other sampling", proof: func(t *testing.T) string {
			return build(t, func(in *ProofInput) { in.Version = 1; in.Sampling = Sampling{Count: 16, Length: 64} })
		}, want: ErrRanges},
		{name: "challenge not expected", proof: func(t *testing.T) string { return build(t, func(in *ProofInput) { in.Challenge = []byte("c") }) }, want: ErrChallenge},
		{name: "other entropy", proof: func(t *testing.T) string { return build(t, func(in *ProofInput) { in.Entropy = otherEntropy }) }, want: ErrDigest},
		{name: "other entropy size", proof: func(t *testing.T) string { return build(t, func(in *ProofInput) { in.Entropy = entropy[:32<<10] }) }, want: ErrDigest},
		{name: "version 1 other entropy size", proof: func(t *testing.T) string {
			return build(t, func(in *ProofInput) { in.Version = 1; in.Entropy = entropy[:32<<10] })
		}, want: ErrRanges},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sk, role, clientID, e := tc.sk, tc.role, tc.clientID, tc.entropy
			if sk == nil {
				sk = serverKey(t, SuiteXWing)
			}
			if role == "" {
				role = "web"
			}
			if clientID == "" {
				clientID = "client-1"
			}
			if e == nil {
				e = entropy
			}
			_, err := verify(tc.proof(t), sk, role, clientID, e, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func reencode(t *testing.T, proof string, mutate func([]byte)) string {
	t.Helper()
	b, err := decodeCanonical(proof)
	if err != nil {
		t.Fatal(err)
	}
	mutate(b)
	return proofEncoding.EncodeToString(b)
}

func reencodeCut(t *testing.T, proof string, n int) string {
	t.Helper()
	b, err := decodeCanonical(proof)
	if err != nil {
		t.Fatal(err)
	}
	return proofEncoding.EncodeToString(b[:n])
}

func TestNewProofRejectsBadInput(t *testing.T) {
	entropy := testEntropy(t, 8<<10)
	cases := map[string]func(*ProofInput){
		"no key":          func(in *ProofInput) { in.ServerKey = nil },
		"empty role":      func(in *ProofInput) { in.Role = "" },
		"upper-case role": func(in *ProofInput) { in.Role = "Web" },
		"client slash":    func(in *ProofInput) { in.ClientID = "a/b" },
		"small entropy":   func(in *ProofInput) { in.Entropy = entropy[:100] },
		"zero count":      func(in *ProofInput) { in.Sampling.Count = 0 },
		"too much":        func(in *ProofInput) { in.Sampling = Sampling{Count: 256, Length: 4096} },
		"too few bytes":   func(in *ProofInput) { in.Sampling = Sampling{Count: 1, Length: 16} },
		"long challenge":  func(in *ProofInput) { in.Challenge = make([]byte, MaxChallengeSize+1) },
		"before epoch":    func(in *ProofInput) { in.IssuedAt = time.Unix(-1, 0) },
		"generation 0":    func(in *ProofInput) { in.Generation = 0 },
		"generation 2^53": func(in *ProofInput) { in.Generation = MaxGeneration + 1 },
		"version 3":       func(in *ProofInput) { in.Version = Version + 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			in := testInput(t, SuiteP256, entropy)
			mutate(&in)
			if p, _, err := NewProof(in); err == nil {
				t.Fatalf("NewProof accepted bad input: %s", p)
			}
		})
	}
}

func TestDeriveRangesIsDeterministicAndInBounds(t *testing.T) {
	var nonce [NonceSize]byte
	rand.Read(nonce[:])
	a, err := DeriveRanges(&nonce, 4096, Sampling{Count: 256, Length: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveRanges(&nonce, 4096, Sampling{Count: 256, Length: 16}, nil)
	c, _ := DeriveRanges(&nonce, 4096, Sampling{Count: 256, Length: 16}, []byte("challenge"))
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("ranges differ for the same nonce")
		}
		if a[i] == c[i] {
			same++
		}
		if a[i].Length != 16 || a[i].Offset > 4096-16 {
			t.Fatalf("range %d out of bounds: %+v", i, a[i])
		}
	}
	if same > 8 {
		t.Fatalf("challenge does not change the ranges (%d of 256 equal)", same)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	for _, s := range Suites() {
		t.Run(s.String(), func(t *testing.T) {
			sk := serverKey(t, s)
			sk2, err := ParsePrivateKey(s, sk.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			pk, err := ParsePublicKey(s, sk.Public().Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if sk2.Public().ID() != sk.Public().ID() || pk.ID() != sk.Public().ID() {
				t.Fatal("key ID changed across encoding")
			}
			id, err := ParseKeyID(pk.ID().String())
			if err != nil || id != pk.ID() {
				t.Fatalf("ParseKeyID = %v, %v", id, err)
			}
			if _, err := ParsePublicKey(s, []byte("short")); err == nil {
				t.Fatal("parsed a garbage public key")
			}
			if _, err := ParsePrivateKey(s, []byte("short")); err == nil {
				t.Fatal("parsed a garbage private key")
			}
		})
	}
	if _, err := ParseSuite("nope"); err == nil {
		t.Fatal("parsed an unknown suite")
	}
	for _, n := range SuiteNames() {
		if s, err := ParseSuite(n); err != nil || s.String() != n {
			t.Fatalf("ParseSuite(%q) = %v, %v", n, s, err)
		}
	}
}

// TestLargestProofFits: the largest proof the limits allow (the longest
// names, the most ranges, the longest challenge, the largest suite) is
// within MaxProofLength, so no valid sampling makes proofs a verifier must
// refuse as too long.
func TestLargestProofFits(t *testing.T) {
	for _, s := range Suites() {
		in := testInput(t, s, testEntropy(t, MinEntropySize))
		in.Role, in.ClientID = strings.Repeat("r", MaxNameLen), strings.Repeat("c", MaxNameLen)
		in.Sampling = Sampling{Count: MaxRangeCount, Length: MinEntropySize / MaxRangeCount}
		in.Challenge = make([]byte, MaxChallengeSize)
		in.Version = 1 // the ranges on the wire: the longer of the two
		proof, _, err := NewProof(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(proof) > MaxProofLength {
			t.Fatalf("%s: the largest proof is %d characters, over MaxProofLength (%d)", s, len(proof), MaxProofLength)
		}
		t.Logf("%s: largest proof %d characters", s, len(proof))
	}
}

// TestCheckTimeBounds: check 10 of docs/protocol.md §8.1 accepts
// now - skew <= issued_at <= now + min(skew, 5 s), both bounds inclusive.
func TestCheckTimeBounds(t *testing.T) {
	entropy := testEntropy(t, MinEntropySize)
	now := time.Unix(1767225600, 0)
	cases := []struct {
		name   string
		skew   time.Duration
		offset int64 // issued_at - now, seconds
		at     time.Duration
		want   error
	}{
		{"oldest", time.Minute, -60, 0, nil},
		{"one second too old", time.Minute, -61, 0, ErrTooOld},
		{"newest: 5 s ahead, though the skew is 60 s", time.Minute, 5, 0, nil},
		{"6 s ahead, within the skew", time.Minute, 6, 0, ErrFromFuture},
		{"60 s ahead, the skew", time.Minute, 60, 0, ErrFromFuture},
		{"small skew: its own bound ahead", 3 * time.Second, 3, 0, nil},
		{"small skew: one second past it", 3 * time.Second, 4, 0, ErrFromFuture},
		{"half a second later, 5 s ahead of the whole second", time.Minute, 5, 500 * time.Millisecond, nil},
		{"half a second earlier, 5 s ahead is too far", time.Minute, 5, -500 * time.Millisecond, ErrFromFuture},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, SuiteP256, entropy)
			in.IssuedAt = now.Add(time.Duration(tc.offset) * time.Second)
			proof, _, err := NewProof(in)
			if err != nil {
				t.Fatal(err)
			}
			env, err := ParseProof(proof)
			if err != nil {
				t.Fatal(err)
			}
			c, err := env.Open(serverKey(t, SuiteP256))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckTime(now.Add(tc.at), tc.skew); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckTime = %v, want %v", err, tc.want)
			}
		})
	}
}
