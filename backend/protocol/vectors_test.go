package protocol

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var generate = flag.Bool("generate", false, "regenerate the test vectors in docs/vectors")

// vectorDir is docs/vectors, relative to this package.
const vectorDir = "../../docs/vectors"

// vectorEntropy is the entropy every vector uses: SHA-256 in counter mode
// over a fixed label, so that anyone can recompute it.
func vectorEntropy() []byte {
	out := make([]byte, 0, MinEntropySize)
	for i := uint32(0); len(out) < MinEntropySize; i++ {
		h := sha256.Sum256(binary.BigEndian.AppendUint32([]byte("vault-plugin-auth-entropy/v1/test-vector-entropy"), i))
		out = append(out, h[:]...)
	}
	return out[:MinEntropySize]
}

// vector is one scenario: what the verifier is given and what it must say.
type vector struct {
	name, expect, comment string
	sk                    *PrivateKey
	role, clientID        string
	generation            uint64
	sampling              Sampling
	skew                  time.Duration
	now                   time.Time
	entropy               []byte
	payload               *payload // nil when the payload is not well formed
	header                []byte
	proof                 string
}

func (v *vector) render() string {
	var b strings.Builder
	line := func(k, val string) { fmt.Fprintf(&b, "%s: %s\n", k, val) }
	line("expect", v.expect)
	line("comment", v.comment)
	line("suite", v.sk.Public().Suite().String())
	line("server_private_key", base64.StdEncoding.EncodeToString(v.sk.Bytes()))
	line("server_public_key", base64.StdEncoding.EncodeToString(v.sk.Public().Bytes()))
	line("key_id", v.sk.Public().ID().String())
	line("role", v.role)
	line("client_id", v.clientID)
	line("generation", fmt.Sprint(v.generation))
	line("sample_count", fmt.Sprint(v.sampling.Count))
	line("sample_length", fmt.Sprint(v.sampling.Length))
	line("skew_seconds", fmt.Sprint(int(v.skew.Seconds())))
	line("now", fmt.Sprint(v.now.Unix()))
	line("entropy", base64.StdEncoding.EncodeToString(v.entropy))
	if v.payload != nil {
		line("nonce", hex.EncodeToString(v.payload.nonce[:]))
		line("issued_at", fmt.Sprint(v.payload.issuedAt))
		line("header", hex.EncodeToString(v.header))
		rs := make([]string, len(v.payload.ranges))
		for i, r := range v.payload.ranges {
			rs[i] = fmt.Sprintf("%d:%d", r.Offset, r.Length)
		}
		line("ranges", strings.Join(rs, ","))
		line("digest", hex.EncodeToString(v.payload.digest[:]))
	}
	b.WriteString("\n")
	b.WriteString(v.proof)
	b.WriteString("\n")
	return b.String()
}

// vectorBuilder makes proofs with every part under the generator's control.
type vectorBuilder struct {
	t       *testing.T
	keys    map[Suite]*PrivateKey
	entropy []byte
	now     time.Time
	counter byte
}

// nonce is deterministic per vector, so that regenerating changes only
// the randomized sealing.
func (g *vectorBuilder) nonce() [NonceSize]byte {
	g.counter++
	return sha256.Sum256([]byte{'n', g.counter})
}

// build makes a vector with a well-formed payload; mutate may change the
// payload after the digest is computed (redigest recomputes it after).
func (g *vectorBuilder) build(name, expect, comment string, s Suite, change func(h *Header, p *payload) (redigest bool)) *vector {
	v := &vector{
		name: name, expect: expect, comment: comment, sk: g.keys[s],
		role: "web", clientID: "agent-1", generation: 1,
		sampling: Sampling{Count: 8, Length: 16}, skew: 60 * time.Second, now: g.now, entropy: g.entropy,
	}
	h := Header{Version: Version, Suite: s, KeyID: v.sk.Public().ID(), Role: v.role, ClientID: v.clientID}
	nonce := g.nonce()
	ranges, err := DeriveRanges(&nonce, len(g.entropy), v.sampling, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	p := &payload{issuedAt: uint64(g.now.Unix()), generation: 1, nonce: nonce, ranges: ranges}
	redigest := true
	if change != nil {
		redigest = change(&h, p)
	}
	header := g.rawHeader(&h)
	p.digest = computeDigest(header, p, g.entropy)
	if !redigest {
		p.digest[0] ^= 0xff
	}
	v.payload, v.header = p, header
	v.proof = g.seal(v.sk.Public(), header, p.marshal())
	return v
}

// rawHeader encodes a header without validating its names, so that
// vectors can carry invalid ones.
func (g *vectorBuilder) rawHeader(h *Header) []byte {
	b := []byte{h.Version, byte(h.Suite)}
	b = append(b, h.KeyID[:]...)
	b = appendLP8(b, h.Role)
	return appendLP8(b, h.ClientID)
}

func (g *vectorBuilder) seal(pk *PublicKey, header, pt []byte) string {
	enc, ct, _, err := sealTo(pk, hpkeInfo(header), header, pt)
	if err != nil {
		g.t.Fatal(err)
	}
	return proofEncoding.EncodeToString(append(append(append([]byte(nil), header...), enc...), ct...))
}

// rewire decodes v's proof, lets f change its bytes, and re-encodes it.
func rewire(v *vector, f func([]byte) []byte) {
	b, err := proofEncoding.DecodeString(v.proof)
	if err != nil {
		panic(err)
	}
	v.proof = proofEncoding.EncodeToString(f(b))
	v.payload = nil
}

func TestGenerateVectors(t *testing.T) {
	if !*generate {
		t.Skip("run with -generate to rewrite docs/vectors")
	}
	g := &vectorBuilder{t: t, keys: map[Suite]*PrivateKey{}, entropy: vectorEntropy(), now: time.Unix(1795000000, 0)}
	for _, s := range Suites() {
		k, err := GenerateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		g.keys[s] = k
	}
	at := func(d time.Duration) func(*Header, *payload) bool {
		return func(_ *Header, p *payload) bool { p.issuedAt = uint64(g.now.Add(d).Unix()); return true }
	}
	var vs []*vector
	add := func(v *vector) { vs = append(vs, v) }

	for _, s := range Suites() {
		add(g.build("ok_"+strings.SplitN(s.String(), "-", 2)[0], "ok", "a valid proof of the "+s.String()+" suite", s, nil))
	}
	add(g.build("ok_oldest_allowed", "ok", "issued_at = now - skew: the lower bound is inclusive", SuiteP256, at(-60*time.Second)))
	add(g.build("ok_newest_allowed", "ok", "issued_at = now + skew: the upper bound is inclusive", SuiteP256, at(60*time.Second)))
	add(g.build("too_old", "too-old", "issued_at = now - skew - 1", SuiteP256, at(-61*time.Second)))
	add(g.build("from_future", "from-future", "issued_at = now + skew + 1", SuiteP256, at(61*time.Second)))

	v := g.build("malformed_bad_base64", "malformed", "not base64url at all", SuiteP256, nil)
	v.proof, v.payload = "!!not*base64!!", nil
	add(v)
	v = g.build("malformed_padded", "malformed", "a valid proof with base64 padding appended", SuiteP256, nil)
	v.proof, v.payload = v.proof+"=", nil
	add(v)
	v = g.build("malformed_crlf", "malformed", "a valid proof with CR LF inside", SuiteP256, nil)
	v.proof, v.payload = v.proof[:30]+"\r\n"+v.proof[30:], nil
	v.proof = strings.ReplaceAll(v.proof, "\r\n", "%0D%0A") // kept on one line; see comment
	v.comment = "a valid proof with CR LF inside, written here percent-encoded as %0D%0A: decode those two escapes before verifying"
	add(v)
	v = g.build("malformed_truncated_body", "malformed", "the body cut short after enc", SuiteP256, nil)
	rewire(v, func(b []byte) []byte { return b[:len(v.header)+65+50] })
	add(v)
	v = g.build("malformed_upper_case_role", "malformed", "the header's role is not a valid name", SuiteP256, func(h *Header, _ *payload) bool { h.Role = "Web"; return true })
	v.payload = nil
	add(v)
	add(g.sealedPayloadVector("malformed_trailing_payload_byte", "the sealed payload has one byte after the digest", func(b []byte) []byte { return append(b, 0) }))
	add(g.sealedPayloadVector("malformed_zero_ranges", "the sealed payload declares zero ranges", func(b []byte) []byte {
		// count is after u64 || u64 || nonce || lp16(empty challenge)
		off := 8 + 8 + NonceSize + 2
		out := append([]byte(nil), b[:off]...)
		out = append(out, 0, 0)
		return append(out, b[len(b)-DigestSize:]...)
	}))

	v = g.build("version", "version", "version byte 2", SuiteP256, nil)
	rewire(v, func(b []byte) []byte { b[0] = 2; return b })
	add(v)
	v = g.build("suite", "suite", "suite byte 4", SuiteP256, nil)
	rewire(v, func(b []byte) []byte { b[1] = 4; return b })
	add(v)
	v = g.build("unknown_key", "unknown-key", "sealed to the P-256 key, but the verifier holds only the X-Wing key given here", SuiteP256, nil)
	v.sk = g.keys[SuiteXWing]
	add(v)
	v = g.build("open_tampered_ciphertext", "open", "the last byte of the ciphertext flipped", SuiteXWing, nil)
	rewire(v, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	add(v)
	v = g.build("open_tampered_header", "open", "the header's client_id changed after sealing (it is HPKE info and AEAD data)", SuiteRSA3072, nil)
	rewire(v, func(b []byte) []byte { b[len(v.header)-1] = '2'; return b })
	v.clientID = "agent-2"
	add(v)
	v = g.build("header_mismatch", "header-mismatch", "a valid proof for role web sent with role db", SuiteP256, nil)
	v.role = "db"
	add(v)
	add(g.build("generation", "generation", "made from generation 2; the server's current generation is 1", SuiteP256, func(_ *Header, p *payload) bool { p.generation = 2; return true }))
	add(g.build("challenge", "challenge", "a non-empty challenge where none is expected", SuiteP256, func(_ *Header, p *payload) bool {
		p.challenge = []byte("unexpected")
		r, _ := DeriveRanges(&p.nonce, len(g.entropy), Sampling{Count: 8, Length: 16}, p.challenge)
		p.ranges = r
		return true
	}))
	add(g.build("ranges_shifted", "ranges", "one range offset moved by one; the digest covers the moved range", SuiteP256, func(_ *Header, p *payload) bool { p.ranges[3].Offset++; return true }))
	add(g.build("ranges_other_sampling", "ranges", "built with 4 ranges of 32 bytes; the client's sampling is 8 x 16", SuiteP256, func(_ *Header, p *payload) bool {
		r, _ := DeriveRanges(&p.nonce, len(g.entropy), Sampling{Count: 4, Length: 32}, nil)
		p.ranges = r
		return true
	}))
	add(g.build("digest_flipped", "digest", "the digest's first byte flipped", SuiteP256, func(*Header, *payload) bool { return false }))
	v = g.build("digest_other_entropy", "digest", "made from other entropy of the same size", SuiteXWing, nil)
	other := append([]byte(nil), g.entropy...)
	other[v.payload.ranges[0].Offset] ^= 1
	v.entropy = other
	add(v)

	if err := os.RemoveAll(vectorDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if err := os.WriteFile(filepath.Join(vectorDir, v.name+".txt"), []byte(v.render()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d vectors to %s", len(vs), vectorDir)
}

// sealedPayloadVector is a vector whose outer layers are valid but whose
// sealed payload bytes are changed by f.
func (g *vectorBuilder) sealedPayloadVector(name, comment string, f func([]byte) []byte) *vector {
	v := g.build(name, "malformed", comment, SuiteP256, nil)
	v.proof = g.seal(v.sk.Public(), v.header, f(v.payload.marshal()))
	v.payload = nil
	return v
}
