package protocol

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseProof feeds arbitrary strings to the decoder. It must never
// panic, and whatever it accepts must satisfy the header invariants.
func FuzzParseProof(f *testing.F) {
	entropy := testEntropy(f, 8<<10)
	for _, s := range Suites() {
		p, _, err := NewProof(testInput(f, s, entropy))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
		f.Add(p[:len(p)/2])
		f.Add(p + "=")
		f.Add(p[:20] + "\n" + p[20:])
	}
	f.Add("")
	f.Add("AQ")
	f.Add("AQEAAAAAAAAAAAN3ZWIBYQ")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := ParseProof(s)
		if err != nil {
			if env != nil {
				t.Fatal("error with an envelope")
			}
			return
		}
		h := env.Header
		if h.Version != Version || !h.Suite.Valid() || ValidName(h.Role) != nil || ValidName(h.ClientID) != nil {
			t.Fatalf("accepted header %+v", h)
		}
		if len(env.enc) != h.Suite.encLen() || len(env.ct) < minPayload+aeadOverhead {
			t.Fatalf("accepted body: enc %d ct %d", len(env.enc), len(env.ct))
		}
		// Canonical: the accepted string is the encoding of its bytes.
		wire := append(append(append([]byte(nil), env.header...), env.enc...), env.ct...)
		if proofEncoding.EncodeToString(wire) != s {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

// FuzzVerify starts from valid proofs and alters their bytes: the whole
// verification pipeline must never panic, and must accept nothing but the
// unaltered proof.
func FuzzVerify(f *testing.F) {
	entropy := testEntropy(f, 8<<10)
	now := time.Now()
	seeds := map[Suite][]byte{}
	for _, s := range Suites() {
		in := testInput(f, s, entropy)
		in.IssuedAt = now
		p, _, err := NewProof(in)
		if err != nil {
			f.Fatal(err)
		}
		wire, err := decodeCanonical(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds[s] = wire
		f.Add(uint8(s), wire, 0, byte(0))
		f.Add(uint8(s), wire, 1, byte(0x01))
		f.Add(uint8(s), wire[:len(wire)-1], -1, byte(0))
		f.Add(uint8(s), append(append([]byte(nil), wire...), 0), -1, byte(0))
	}
	f.Fuzz(func(t *testing.T, suite uint8, wire []byte, pos int, flip byte) {
		s := Suite(suite%3 + 1)
		b := append([]byte(nil), wire...)
		if len(b) > 0 && pos >= 0 {
			b[pos%len(b)] ^= flip
		}
		c, err := verify(proofEncoding.EncodeToString(b), serverKey(t, s), "web", "client-1", entropy, now)
		if err != nil {
			return
		}
		if c == nil || !bytes.Equal(b, seeds[s]) {
			t.Fatalf("accepted an altered proof (%d bytes, seed %d)", len(b), len(seeds[s]))
		}
	})
}
