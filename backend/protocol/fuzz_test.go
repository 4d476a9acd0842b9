package protocol

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
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

var fuzzFixtureNames = []string{"ok_xwing", "ok_p256", "ok_rsa3072"}

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
		if h.Version != Version || !h.Suite.Valid() || ValidName(h.Role) != nil || ValidName(h.ClientID) != nil {
			t.Fatalf("accepted header %+v", h)
		}
		if len(s) > MaxProofLength {
			t.Fatalf("accepted %d characters", len(s))
		}
		if len(env.enc) != h.Suite.encLen() || len(env.ct) < minPayload+aeadOverhead {
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
		if c == nil || !bytes.Equal(b, fx.wire) {
			t.Fatalf("%s: accepted an altered proof (%d bytes, the valid one has %d)", fx.name, len(b), len(fx.wire))
		}
	})
}
