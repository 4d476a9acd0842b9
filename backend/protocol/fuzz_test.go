package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets' fixtures come from the ok vectors in docs/vectors, not
// from keys generated at start-up: when fuzzing, the coordinator and every
// worker are separate processes that each run the target's set-up, and the
// coordinator hands its inputs to the workers. Proofs sealed to keys one
// process generated would not open in another, and the fuzzer would never
// get past the key ID check.

// fuzzFixture is a valid proof and everything its verifier needs.
type fuzzFixture struct {
	verifier
	name  string
	proof string
	wire  []byte
}

var fuzzFixtureNames = []string{"ok_xwing", "ok_p256", "ok_rsa3072", "ok_version_1"}

// readVectorFile splits a vector file into its header lines and its proof.
func readVectorFile(path string) (map[string]string, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	head, body, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		return nil, "", errors.New("no blank line")
	}
	h := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ":")
		h[k] = strings.TrimPrefix(v, " ")
	}
	return h, body, nil
}

func loadFuzzFixtures(tb testing.TB) []*fuzzFixture {
	tb.Helper()
	var out []*fuzzFixture
	for _, name := range fuzzFixtureNames {
		h, body, err := readVectorFile(filepath.Join(vectorsDir, name))
		if err != nil {
			tb.Fatalf("fuzz fixture %s (regenerate with -run TestGenerateVectors -generate): %v", name, err)
		}
		num := func(k string) uint64 {
			n, err := strconv.ParseUint(h[k], 10, 64)
			if err != nil {
				tb.Fatalf("%s: %s: %v", name, k, err)
			}
			return n
		}
		b64 := func(k string) []byte {
			b, err := base64.StdEncoding.DecodeString(h[k])
			if err != nil {
				tb.Fatalf("%s: %s: %v", name, k, err)
			}
			return b
		}
		s, err := ParseSuite(h["suite"])
		if err != nil {
			tb.Fatal(err)
		}
		sk, err := ParsePrivateKey(s, b64("server_private_key"))
		if err != nil {
			tb.Fatal(err)
		}
		wire, err := decodeCanonical(body)
		if err != nil {
			tb.Fatal(err)
		}
		fx := &fuzzFixture{
			verifier: verifier{
				sk: sk, role: h["role"], clientID: h["client_id"],
				generation: num("generation"),
				sampling:   Sampling{Count: int(num("sample_count")), Length: int(num("sample_length"))},
				skew:       time.Duration(num("skew_seconds")) * time.Second,
				now:        time.Unix(int64(num("now")), 0),
				entropy:    b64("entropy"),
			},
			name:  name,
			proof: body,
			wire:  wire,
		}
		if _, err := fx.verify(body); err != nil {
			tb.Fatalf("fuzz fixture %s does not verify: %v", name, err)
		}
		out = append(out, fx)
	}
	return out
}

// refusals is every error a verifier may return for a bad proof.
var refusals = []error{ErrMalformed, ErrVersion, ErrSuite, ErrUnknownKey, ErrOpen, ErrHeaderMismatch,
	ErrTooOld, ErrFromFuture, ErrGeneration, ErrChallenge, ErrSampling, ErrRanges, ErrDigest}

func isRefusal(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// FuzzParseProof feeds arbitrary strings to the decoder. It must never
// panic, and whatever it accepts must satisfy the documented invariants:
// version 1, a known suite, valid names, enc of the suite's length, a body
// long enough for the shortest payload, and a canonical encoding.
func FuzzParseProof(f *testing.F) {
	entries, _ := os.ReadDir(vectorsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, body, err := readVectorFile(filepath.Join(vectorsDir, e.Name())); err == nil {
			f.Add(body)
		}
	}
	for _, fx := range loadFuzzFixtures(f) {
		p := fx.proof
		f.Add(p[:len(p)/2])
		f.Add(p[:len(p)-1])
		f.Add(p + "=")
		f.Add(p + "A")
		f.Add(p[:20] + "\n" + p[20:])
		f.Add(p[:20] + "\r" + p[20:])
		f.Add(base64.URLEncoding.EncodeToString(fx.wire))
		f.Add(base64.RawStdEncoding.EncodeToString(fx.wire))
	}
	f.Add("")
	f.Add("AQ")
	f.Add("AQEAAAAAAAAAAAN3ZWIBYQ")
	f.Add(strings.Repeat("A", MaxProofLength+1))
	f.Fuzz(func(t *testing.T, s string) {
		env, err := ParseProof(s)
		if err != nil {
			if env != nil {
				t.Fatal("an error with an envelope")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrSuite) {
				t.Fatalf("ParseProof refused with %v", err)
			}
			return
		}
		h := env.Header
		if h.Version < MinVersion || h.Version > Version || !h.Suite.Valid() || ValidName(h.Role) != nil || ValidName(h.ClientID) != nil {
			t.Fatalf("accepted header %+v", h)
		}
		if len(s) > MaxProofLength {
			t.Fatalf("accepted %d characters", len(s))
		}
		if len(env.enc) != h.Suite.encLen() || len(env.ct) < minPayload(h.Version)+aeadOverhead {
			t.Fatalf("accepted body: enc %d ct %d", len(env.enc), len(env.ct))
		}
		want, err := (&h).marshal()
		if err != nil || !bytes.Equal(env.header, want) {
			t.Fatalf("the header bytes %x are not the encoding of %+v", env.header, h)
		}
		// Canonical: the accepted string is the encoding of its bytes.
		wire := append(append(append([]byte(nil), env.header...), env.enc...), env.ct...)
		if proofEncoding.EncodeToString(wire) != s {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

// FuzzVerify starts from the valid proof of each suite and alters it: in
// xor mode data is XORed into the proof's bytes from pos on (wrapping), in
// replace mode data is the proof's bytes. The whole verification pipeline
// must never panic, must refuse with one of the documented errors, and
// must accept nothing but the unaltered proof.
func FuzzVerify(f *testing.F) {
	fixtures := loadFuzzFixtures(f)
	for i, fx := range fixtures {
		w := fx.wire
		n := uint8(i)
		hdr := 2 + KeyIDSize + 1 + len(fx.role) + 1 + len(fx.clientID)
		f.Add(n, true, uint16(0), []byte(nil)) // the valid proof
		f.Add(n, true, uint16(len(w)-1), []byte{1})
		f.Add(n, true, uint16(0), []byte{0, 0, 0xff})                      // key ID
		f.Add(n, true, uint16(hdr), []byte{0x80})                          // enc
		f.Add(n, true, uint16(hdr+fx.sk.public.suite.encLen()), []byte{1}) // ct
		f.Add(n, false, uint16(0), w)
		f.Add(n, false, uint16(0), w[:len(w)-1])
		f.Add(n, false, uint16(0), append(append([]byte(nil), w...), 0))
		f.Add(n, false, uint16(0), w[:hdr])
		f.Add(n, false, uint16(0), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, which uint8, xor bool, pos uint16, data []byte) {
		fx := fixtures[int(which)%len(fixtures)]
		var b []byte
		if xor {
			b = append([]byte(nil), fx.wire...)
			for i, d := range data {
				b[(int(pos)+i)%len(b)] ^= d
			}
		} else {
			b = data
		}
		c, err := fx.verify(proofEncoding.EncodeToString(b))
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("refused with an undocumented error: %v", err)
			}
			return
		}
		// Only a fixture's own proof verifies. ok_version_1 and ok_p256
		// share key, names and entropy, so each verifier also takes the
		// other's (unaltered) proof.
		if c == nil || !slices.ContainsFunc(fixtures, func(o *fuzzFixture) bool { return bytes.Equal(b, o.wire) }) {
			t.Fatalf("%s: accepted an altered proof (%d bytes, the valid one has %d)", fx.name, len(b), len(fx.wire))
		}
	})
}

// fuzzSession is the client's half of a fixture's login: the same exporter
// as the server's, which only the two ends of that login hold. It is built
// from the opened fixture proof, so every fuzz process gets the same one.
func fuzzSession(tb testing.TB, fx *fuzzFixture) (*Claims, *ClientSession) {
	tb.Helper()
	env, err := ParseProof(fx.proof)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := env.Open(fx.sk)
	if err != nil {
		tb.Fatal(err)
	}
	return c, &ClientSession{exp: c.exp, role: fx.role, clientID: fx.clientID, generation: fx.generation, version: c.Header.Version, loginID: c.LoginID(), entropyKey: entropyKey(fx.entropy)}
}

// FuzzParsePayload feeds arbitrary bytes to the payload decoder of either
// version, which only ever sees what opened under the server key, so
// FuzzVerify cannot reach it by altering sealed bytes. It must refuse with
// ErrMalformed, and what it accepts must be in bounds and be the one
// encoding of what it decoded: a version 2 payload never holds ranges.
func FuzzParsePayload(f *testing.F) {
	for _, fx := range loadFuzzFixtures(f) {
		c, _ := fuzzSession(f, fx)
		pt := c.p.marshal()
		for _, b := range [][]byte{pt, pt[:len(pt)-1], append(append([]byte(nil), pt...), 0)} {
			f.Add(c.p.version, b)
		}
	}
	for _, v := range []uint8{1, 2} {
		max := &payload{version: v, issuedAt: math.MaxInt64, challenge: make([]byte, MaxChallengeSize), ranges: make([]Range, MaxRangeCount)}
		f.Add(v, max.marshal())
		f.Add(v, make([]byte, minPayload(v)))
	}
	f.Fuzz(func(t *testing.T, version uint8, b []byte) {
		if version < MinVersion || version > Version {
			return // refused with the header, before any payload is opened
		}
		p, err := parsePayload(b, version)
		if err != nil {
			if p != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with %v and %v", p, err)
			}
			return
		}
		n := len(p.ranges)
		if (version == 1 && (n < 1 || n > MaxRangeCount)) || (version != 1 && n != 0) ||
			len(p.challenge) > MaxChallengeSize || p.issuedAt > math.MaxInt64 {
			t.Fatalf("version %d accepted %d ranges, a %d-byte challenge, issued_at %d", version, n, len(p.challenge), p.issuedAt)
		}
		if !bytes.Equal(p.marshal(), b) {
			t.Fatal("the accepted bytes are not the encoding of what they decode to")
		}
	})
}

// FuzzDeriveRanges: the verifier derives ranges from a nonce it did not
// choose, sampling parameters from storage and a challenge from the proof.
// It must refuse exactly the invalid parameters, and every range it
// derives must lie inside the entropy (sample slices it without checking).
func FuzzDeriveRanges(f *testing.F) {
	f.Add([]byte("nonce"), 64<<10, 32, 32, []byte(nil))
	f.Add([]byte{0xff}, MinEntropySize, 1, MinEntropySize, make([]byte, ChallengeSize))
	f.Add([]byte{}, MaxEntropySize, MaxRangeCount, MaxRangeLength, make([]byte, MaxChallengeSize+1))
	f.Add([]byte{1}, MinEntropySize, 2, 16, []byte{1})
	f.Add([]byte{2}, MinEntropySize-1, 1, 32, []byte(nil))
	f.Fuzz(func(t *testing.T, seed []byte, size, count, length int, challenge []byte) {
		nonce := sha256.Sum256(seed)
		s := Sampling{Count: count, Length: length}
		ranges, err := DeriveRanges(&nonce, size, s, challenge)
		wantErr := s.Validate(size) != nil || len(challenge) > MaxChallengeSize
		if (err != nil) != wantErr {
			t.Fatalf("DeriveRanges(size %d, %+v, challenge %d bytes) = %v", size, s, len(challenge), err)
		}
		if err != nil {
			return
		}
		if len(ranges) != count {
			t.Fatalf("%d ranges, want %d", len(ranges), count)
		}
		for i, r := range ranges {
			if int(r.Length) != length || int(r.Offset)+int(r.Length) > size {
				t.Fatalf("range %d = %+v outside %d bytes", i, r, size)
			}
		}
		again, _ := DeriveRanges(&nonce, size, s, challenge)
		for i := range ranges {
			if ranges[i] != again[i] {
				t.Fatal("ranges are not a function of their inputs")
			}
		}
	})
}

// fixtureServerKey reads the suite and one base64 key field (the server's
// public or private key) of a vector file, as seeds.
func fixtureServerKey(f *testing.F, name, field string) (Suite, []byte) {
	f.Helper()
	h, _, err := readVectorFile(filepath.Join(vectorsDir, name))
	if err != nil {
		f.Fatal(err)
	}
	s, err := ParseSuite(h["suite"])
	if err != nil {
		f.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(h[field])
	if err != nil {
		f.Fatal(err)
	}
	return s, key
}

// FuzzParsePublicKey: server public keys arrive from the keys endpoint,
// the enrollment bundle, receipts and the state file. An accepted key has a
// known suite, keeps exactly the bytes it was given, and has the key ID
// derived from them; PublishedKey.Parse accepts it under that ID only.
func FuzzParsePublicKey(f *testing.F) {
	for _, name := range fuzzFixtureNames {
		s, pub := fixtureServerKey(f, name, "server_public_key")
		f.Add(uint8(s), pub)
		f.Add(uint8(s), pub[:len(pub)-1])
		f.Add(uint8(s)%3+1, pub) // another suite's key
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(4), []byte{1})
	f.Fuzz(func(t *testing.T, suite uint8, b []byte) {
		s := Suite(suite)
		pk, err := ParsePublicKey(s, b)
		published := PublishedKey{KeyID: deriveKeyID(s, b).String(), Suite: s.String(), PublicKey: b}
		ppk, perr := published.Parse()
		if err != nil {
			if pk != nil || perr == nil {
				t.Fatalf("ParsePublicKey refused (%v) what PublishedKey.Parse accepted (%v)", err, perr)
			}
			return
		}
		if perr != nil || ppk.ID() != pk.ID() {
			t.Fatalf("PublishedKey.Parse refused an accepted key: %v", perr)
		}
		if !s.Valid() || pk.Suite() != s || !bytes.Equal(pk.Bytes(), b) || pk.ID() != deriveKeyID(s, b) {
			t.Fatalf("accepted a %s key that does not round-trip", s)
		}
		published.KeyID = KeyID{}.String()
		if _, err := published.Parse(); err == nil && pk.ID() != (KeyID{}) {
			t.Fatal("PublishedKey.Parse accepted a key under a key_id not derived from it")
		}
	})
}

// FuzzParsePrivateKey: server private keys are decoded from Vault storage
// on every cold start. An accepted key round-trips, and its public half
// parses under the same suite.
func FuzzParsePrivateKey(f *testing.F) {
	for _, name := range fuzzFixtureNames {
		s, sk := fixtureServerKey(f, name, "server_private_key")
		f.Add(uint8(s), sk)
		f.Add(uint8(s), sk[:len(sk)-1])
		f.Add(uint8(s)%3+1, sk)
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, suite uint8, b []byte) {
		s := Suite(suite)
		sk, err := ParsePrivateKey(s, b)
		if err != nil {
			if sk != nil {
				t.Fatal("an error with a key")
			}
			return
		}
		if !s.Valid() || !bytes.Equal(sk.Bytes(), b) || sk.Public().Suite() != s {
			t.Fatalf("accepted a %s key that does not round-trip", s)
		}
		pk, err := ParsePublicKey(s, sk.Public().Bytes())
		if err != nil || pk.ID() != sk.Public().ID() {
			t.Fatalf("the public half of an accepted key does not parse: %v", err)
		}
	})
}

// FuzzParseNames: suite names and key IDs come from JSON (bundles, keys
// responses, the config endpoint). Whatever is accepted names exactly one
// value, whose canonical spelling parses back to it.
func FuzzParseNames(f *testing.F) {
	for _, n := range SuiteNames() {
		f.Add(n)
	}
	f.Add("762766a5739babc6")
	f.Add("762766A5739BABC6")
	f.Add("762766a5739babc")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if suite, err := ParseSuite(s); err == nil && (!suite.Valid() || suite.String() != s) {
			t.Fatalf("ParseSuite(%q) = %v", s, suite)
		}
		id, err := ParseKeyID(s)
		if err != nil {
			return
		}
		if id.String() != strings.ToLower(s) {
			t.Fatalf("ParseKeyID(%q) = %s", s, id)
		}
		if again, err := ParseKeyID(id.String()); err != nil || again != id {
			t.Fatalf("key ID %s does not round-trip: %v", id, err)
		}
	})
}

// FuzzCheckChallenge starts from a challenge the server made for a
// fixture's nonce and alters it (xor mode) or replaces it. Only the
// unaltered challenge is accepted, ErrChallengeStale only for an unaltered
// but expired one, and every other outcome is ErrChallenge.
func FuzzCheckChallenge(f *testing.F) {
	fixtures := loadFuzzFixtures(f)
	opened := make([]*Claims, len(fixtures))
	for i, fx := range fixtures {
		opened[i], _ = fuzzSession(f, fx)
	}
	key := bytes.Repeat([]byte{7}, ChallengeKeySize)
	f.Add(uint8(0), true, uint16(0), []byte(nil), int64(0))
	f.Add(uint8(1), true, uint16(ChallengeSize-1), []byte{1}, int64(0))
	f.Add(uint8(2), true, uint16(0), []byte{0, 0, 0, 0, 0, 0, 0, 1}, int64(0))
	f.Add(uint8(0), true, uint16(0), []byte(nil), int64(61))
	f.Add(uint8(0), false, uint16(0), []byte{}, int64(0))
	f.Add(uint8(0), false, uint16(0), make([]byte, ChallengeSize), int64(0))
	f.Fuzz(func(t *testing.T, which uint8, xor bool, pos uint16, data []byte, later int64) {
		i := int(which) % len(fixtures)
		fx := fixtures[i]
		// A copy of the opened claims, whose challenge this run replaces.
		c := *opened[i]
		p := *c.p
		c.p = &p
		n := Nonce(c.p.nonce)
		expires := fx.now.Add(60 * time.Second)
		var random [challengeRandomSize]byte
		genuine := newChallenge(key, fx.role, fx.clientID, n.Commitment(), expires, random)
		var ch []byte
		if xor {
			ch = append([]byte(nil), genuine...)
			for i, d := range data {
				ch[(int(pos)+i)%len(ch)] ^= d
			}
		} else {
			ch = data
		}
		c.p.challenge = ch
		now := fx.now.Add(time.Duration(later%(1<<40)) * time.Second)
		err := c.CheckChallenge(key, now)
		same := bytes.Equal(ch, genuine)
		switch {
		case err == nil && (!same || now.After(expires)):
			t.Fatalf("accepted a challenge that is altered (%v) or expired at %v", !same, now)
		case errors.Is(err, ErrChallengeStale) && (!same || !now.After(expires)):
			t.Fatalf("stale for a challenge that is altered (%v) or not expired at %v", !same, now)
		case err != nil && !errors.Is(err, ErrChallenge) && !errors.Is(err, ErrChallengeStale):
			t.Fatalf("refused with %v", err)
		case err != nil && errors.Is(err, ErrChallenge) && same && now.Unix() >= 0:
			t.Fatalf("refused the genuine challenge: %v", err)
		}
	})
}

// FuzzOpenReceipt feeds a client session receipts in three modes: mode 0
// seals data as the receipt's plaintext JSON (what a server holding the key
// could send), mode 1 takes data as the sealed bytes, mode 2 as the encoded
// text (the seeds of modes 1 and 2 are receipts the fixture's server
// sealed). Every refusal is ErrResponse. A receipt accepted, whatever its
// mode, confirms this login, carries only a well-formed rotation and keys,
// survives encoding and sealing again, and opens for no other purpose.
func FuzzOpenReceipt(f *testing.F) {
	fixtures := loadFuzzFixtures(f)
	for i, fx := range fixtures {
		c, _ := fuzzSession(f, fx)
		r := c.NewReceipt(false)
		plain, _ := json.Marshal(r)
		f.Add(uint8(i), uint8(0), plain)
		r.ChallengeRequired = true
		r.Rotation = &Rotation{Generation: fx.generation + 1, Entropy: fx.entropy, SampleCount: fx.sampling.Count, SampleLength: fx.sampling.Length}
		r.ServerKeys = []PublishedKey{{KeyID: fx.sk.Public().ID().String(), Suite: fx.sk.Public().Suite().String(), PublicKey: fx.sk.Public().Bytes(), Current: true}}
		plain, _ = json.Marshal(r)
		f.Add(uint8(i), uint8(0), plain)
		r.Rotation.Generation++
		plain, _ = json.Marshal(r)
		f.Add(uint8(i), uint8(0), plain)
		sealed, _ := c.SealReceipt(c.NewReceipt(false), fx.entropy)
		f.Add(uint8(i), uint8(2), []byte(sealed))
		raw, _ := decodeCanonical(sealed)
		f.Add(uint8(i), uint8(1), raw)
	}
	f.Add(uint8(0), uint8(0), []byte(`{"receipt_version":1}`))
	f.Add(uint8(0), uint8(2), []byte(""))
	// Opened once: the exporters are stateless, and opening an RSA proof
	// costs milliseconds.
	claims := make([]*Claims, len(fixtures))
	sessions := make([]*ClientSession, len(fixtures))
	for i, fx := range fixtures {
		claims[i], sessions[i] = fuzzSession(f, fx)
	}
	f.Fuzz(func(t *testing.T, which uint8, mode uint8, data []byte) {
		i := int(which) % len(fixtures)
		fx, c, s := fixtures[i], claims[i], sessions[i]
		var encoded string
		switch mode % 3 {
		case 0:
			sealed, err := c.SealResponse(ReceiptPurpose, data, fx.entropy)
			if err != nil {
				t.Fatal(err)
			}
			encoded = proofEncoding.EncodeToString(sealed)
		case 1:
			encoded = proofEncoding.EncodeToString(data)
		case 2:
			encoded = string(data)
		}
		r, err := s.OpenReceipt(encoded)
		if err != nil {
			if r != nil || !errors.Is(err, ErrResponse) {
				t.Fatalf("refused with %v and %v", r, err)
			}
			return
		}
		if r.Version != ReceiptVersion || r.LoginID != s.LoginID() || r.Role != fx.role || r.ClientID != fx.clientID || r.Generation != fx.generation {
			t.Fatalf("accepted a receipt for another login: %+v", r)
		}
		if rot := r.Rotation; rot != nil && (rot.Generation != fx.generation+1 || rot.Sampling().Validate(len(rot.Entropy)) != nil) {
			t.Fatalf("accepted rotation to generation %d, %d bytes, %+v", rot.Generation, len(rot.Entropy), rot.Sampling())
		}
		for i := range r.ServerKeys {
			if _, err := r.ServerKeys[i].Parse(); err != nil {
				t.Fatalf("accepted server key %d: %v", i, err)
			}
		}
		// Round trip: what was accepted, sealed again, opens to the same.
		resealed, err := c.SealReceipt(r, fx.entropy)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.OpenReceipt(resealed)
		if err != nil {
			t.Fatalf("an accepted receipt, sealed again, is refused: %v", err)
		}
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("receipt changed in a round trip:\n%s\n%s", a, b)
		}
		// Sealed for one purpose, it does not open for another.
		if _, err := s.OpenResponse("confirm", []byte(resealed)); err == nil {
			t.Fatal("a receipt opened as another purpose")
		}
	})
}
