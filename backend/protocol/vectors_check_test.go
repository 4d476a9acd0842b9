package protocol_test

// TestVectors checks docs/vectors the way an independent implementation
// would: it sees only the package's exported API, and it recomputes every
// intermediate value a vector lists (key ID, header, payload, ranges,
// digest, nonce ID, sealed response) from docs/protocol.md's equations with
// the standard library alone. A vector that the exported API classes
// differently from its expect: line, or whose listed values disagree with
// the equations, fails the test.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

const vectorsDir = "../../docs/vectors"

// The labels of docs/protocol.md §2.3, spelled out again on purpose.
const (
	specLabelKeyID       = "vault-plugin-auth-entropy/v1/key-id"
	specLabelRanges      = "vault-plugin-auth-entropy/v1/ranges"
	specLabelDigest      = "vault-plugin-auth-entropy/v1/digest"
	specLabelProof       = "vault-plugin-auth-entropy/v1/proof"
	specLabelRSAPayload  = "vault-plugin-auth-entropy/v1/rsa/payload-key"
	specLabelRSAExporter = "vault-plugin-auth-entropy/v1/rsa/exporter"
	specLabelResponse    = "vault-plugin-auth-entropy/v1/response/"
	specLabelNonceID     = "vault-plugin-auth-entropy/v1/nonce-id"
)

// vectorClasses maps each refusal of the exported API to its expect class,
// in the order of the checks of docs/protocol.md §8.
var vectorClasses = []struct {
	class string
	err   error
}{
	{"malformed", protocol.ErrMalformed},
	{"version", protocol.ErrVersion},
	{"suite", protocol.ErrSuite},
	{"unknown-key", protocol.ErrUnknownKey},
	{"open", protocol.ErrOpen},
	{"header-mismatch", protocol.ErrHeaderMismatch},
	{"too-old", protocol.ErrTooOld},
	{"from-future", protocol.ErrFromFuture},
	{"generation", protocol.ErrGeneration},
	{"challenge", protocol.ErrChallenge},
	{"sampling", protocol.ErrSampling},
	{"ranges", protocol.ErrRanges},
	{"digest", protocol.ErrDigest},
}

// Every class of a single proof must have at least one vector. (replay
// needs two logins and unknown-client a server's state: neither fits in a
// vector.)
var requiredClasses = []string{"ok", "malformed", "version", "suite", "unknown-key", "open",
	"header-mismatch", "too-old", "from-future", "generation", "challenge", "sampling", "ranges", "digest"}

// vectorKeys is the order of a vector file's header lines. The first group
// is required; the others are all present or all absent.
var vectorKeys = [][]string{
	{"expect", "comment", "suite", "server_private_key", "server_public_key", "key_id", "role",
		"client_id", "generation", "sample_count", "sample_length", "skew_seconds", "now", "entropy"},
	{"header", "payload"},
	{"issued_at", "proof_generation", "challenge", "nonce", "nonce_id", "ranges", "digest"},
	{"response_purpose", "response_plaintext", "response"},
}

type vectorFile struct {
	h    map[string]string
	body string
}

func (v *vectorFile) has(k string) bool { _, ok := v.h[k]; return ok }

func parseVectorFile(data []byte) (*vectorFile, error) {
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no blank line after the header")
	}
	v := &vectorFile{h: map[string]string{}, body: string(body)}
	order := map[string]int{}
	group := map[string]int{}
	for g, keys := range vectorKeys {
		for _, k := range keys {
			order[k] = len(order)
			group[k] = g
		}
	}
	last := -1
	for _, line := range strings.Split(string(head), "\n") {
		k, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("header line %q has no ':'", line)
		}
		if val != "" {
			if val, ok = strings.CutPrefix(val, " "); !ok || val == "" {
				return nil, fmt.Errorf("header line %q: want \"key: value\"", line)
			}
		}
		i, known := order[k]
		switch {
		case !known:
			return nil, fmt.Errorf("unknown header key %q", k)
		case i <= last:
			return nil, fmt.Errorf("header key %q out of order or repeated", k)
		}
		last = i
		v.h[k] = val
	}
	for g, keys := range vectorKeys {
		n := 0
		for _, k := range keys {
			if v.has(k) {
				n++
			}
		}
		if (g == 0 && n != len(keys)) || (n != 0 && n != len(keys)) {
			return nil, fmt.Errorf("header keys %v: %d of %d present", keys, n, len(keys))
		}
	}
	if v.h["expect"] == "" {
		return nil, errors.New("no expect: value")
	}
	return v, nil
}

func TestVectors(t *testing.T) {
	entries, err := os.ReadDir(vectorsDir)
	if err != nil {
		t.Fatalf("reading %s: %v", vectorsDir, err)
	}
	seen := map[string]int{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(vectorsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		seen[""]++
		t.Run(e.Name(), func(t *testing.T) {
			v, err := parseVectorFile(data)
			if err != nil {
				t.Fatal(err)
			}
			seen[v.h["expect"]]++
			checkVector(t, v)
		})
	}
	if seen[""] == 0 {
		t.Fatalf("no test vectors in %s", vectorsDir)
	}
	for _, c := range requiredClasses {
		if seen[c] == 0 {
			t.Errorf("no vector of class %s", c)
		}
	}
}

// params is what the verifier is given besides the proof.
type params struct {
	suite      protocol.Suite
	sk         *protocol.PrivateKey
	pub        []byte
	role       string
	clientID   string
	generation uint64
	sampling   protocol.Sampling
	skew       time.Duration
	now        time.Time
	entropy    []byte
}

func checkVector(t *testing.T, v *vectorFile) {
	h := v.h
	var p params
	var err error
	if p.suite, err = protocol.ParseSuite(h["suite"]); err != nil {
		t.Fatal(err)
	}
	p.pub = b64(t, h["server_public_key"])
	if p.sk, err = protocol.ParsePrivateKey(p.suite, b64(t, h["server_private_key"])); err != nil {
		t.Fatal(err)
	}
	p.role, p.clientID = h["role"], h["client_id"]
	p.generation = unum(t, h["generation"])
	p.sampling = protocol.Sampling{Count: int(unum(t, h["sample_count"])), Length: int(unum(t, h["sample_length"]))}
	p.skew = time.Duration(unum(t, h["skew_seconds"])) * time.Second
	p.now = time.Unix(int64(unum(t, h["now"])), 0)
	p.entropy = b64(t, h["entropy"])

	checkKey(t, v, &p)

	// The verifier, through the exported API, in the order of §8.
	claims, err := verifyVector(v.body, &p)
	got := "ok"
	if err != nil {
		got = ""
		for _, c := range vectorClasses {
			if errors.Is(err, c.err) {
				got = c.class
				break
			}
		}
		if got == "" {
			t.Fatalf("an error of no class: %v", err)
		}
	}
	if got != h["expect"] {
		t.Fatalf("the verifier says %s (%v), the vector expects %s: %s", got, err, h["expect"], h["comment"])
	}

	// The listed intermediate values, recomputed from the equations.
	var s *sealed
	if v.has("payload") {
		s = openIndependently(t, v, &p)
	}
	var pl *specPayload
	if v.has("nonce") {
		pl = parseSpecPayload(t, s.payload)
		checkPayloadFields(t, h, pl)
	}
	if got == "ok" {
		if pl == nil || !v.has("response") {
			t.Fatal("an ok vector must list header, payload, payload fields and a response")
		}
		checkAccepted(t, v, &p, s, pl, claims)
	} else if v.has("response") {
		t.Fatal("only ok vectors list a response")
	}
}

func verifyVector(proof string, p *params) (*protocol.Claims, error) {
	env, err := protocol.ParseProof(proof)
	if err != nil {
		return nil, err
	}
	var key *protocol.PrivateKey
	if env.Header.KeyID == p.sk.Public().ID() {
		key = p.sk
	}
	c, err := env.Open(key)
	if err != nil {
		return nil, err
	}
	if err := c.CheckHeader(p.role, p.clientID); err != nil {
		return nil, err
	}
	if err := c.CheckTime(p.now, p.skew); err != nil {
		return nil, err
	}
	if c.Generation() != p.generation {
		return nil, protocol.ErrGeneration
	}
	return c, c.Verify(p.entropy, p.sampling, nil)
}

// checkKey checks the key fields against each other and §3.
func checkKey(t *testing.T, v *vectorFile, p *params) {
	t.Helper()
	if !bytes.Equal(p.sk.Public().Bytes(), p.pub) || p.sk.Public().ID().String() != v.h["key_id"] {
		t.Fatal("server_public_key or key_id do not belong to server_private_key")
	}
	if pk, err := protocol.ParsePublicKey(p.suite, p.pub); err != nil || pk.ID() != p.sk.Public().ID() {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	id := sha256.Sum256(cat(lp8(specLabelKeyID), []byte{byte(p.suite)}, p.pub))
	if hex.EncodeToString(id[:8]) != v.h["key_id"] {
		t.Fatal("key_id is not SHA-256(lp8(label) || suite || public_key)[0:8]")
	}
	priv := b64(t, v.h["server_private_key"])
	switch p.suite {
	case protocol.SuiteXWing, protocol.SuiteP256:
		k, err := specKEM(p.suite).NewPrivateKey(priv)
		if err != nil || !bytes.Equal(k.PublicKey().Bytes(), p.pub) {
			t.Fatalf("the HPKE private key does not serialize to the public key: %v", err)
		}
	case protocol.SuiteRSA3072:
		k, err := x509.ParsePKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		rk := k.(*rsa.PrivateKey)
		spki, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
		if err != nil || !bytes.Equal(spki, p.pub) || rk.N.BitLen() != 3072 || rk.E != 65537 {
			t.Fatal("the RSA key is not a 3072-bit, e = 65537 key whose SubjectPublicKeyInfo is server_public_key")
		}
	}
}

func specKEM(s protocol.Suite) hpke.KEM {
	if s == protocol.SuiteXWing {
		return hpke.MLKEM768X25519()
	}
	return hpke.DHKEM(ecdh.P256())
}

func specEncLen(s protocol.Suite) int {
	return map[protocol.Suite]int{protocol.SuiteXWing: 1120, protocol.SuiteP256: 65, protocol.SuiteRSA3072: 384}[s]
}

// sealed is a proof opened by the equations of §3.2 and §7.
type sealed struct {
	wire, header, payload []byte
	export                func(ctx string, n int) []byte
}

// openIndependently opens the proof's bytes with the server key: HPKE base
// mode (RFC 9180) or the RSA construction of §3.2, info = lp8(label) ||
// header, aad = header.
func openIndependently(t *testing.T, v *vectorFile, p *params) *sealed {
	t.Helper()
	// Text defects are not what such a vector tests: recover the bytes.
	text := strings.NewReplacer("\r", "", "\n", "", " ", "", "=", "").Replace(v.body)
	wire, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("the proof's bytes cannot be recovered: %v", err)
	}
	header := unhex(t, v.h["header"])
	if !bytes.HasPrefix(wire, header) {
		t.Fatal("the proof does not start with header")
	}
	n := specEncLen(p.suite)
	if len(wire) < len(header)+n {
		t.Fatal("the proof is too short for enc")
	}
	enc, ct := wire[len(header):len(header)+n], wire[len(header)+n:]
	info := cat(lp8(specLabelProof), header)
	priv := b64(t, v.h["server_private_key"])
	s := &sealed{wire: wire, header: header}
	switch p.suite {
	case protocol.SuiteRSA3072:
		k, _ := x509.ParsePKCS8PrivateKey(priv)
		secret, err := rsa.DecryptOAEP(sha256.New(), nil, k.(*rsa.PrivateKey), enc, info)
		if err != nil || len(secret) != 32 {
			t.Fatalf("RSA-OAEP: %v (%d bytes)", err, len(secret))
		}
		payloadKey, _ := hkdf.Key(sha256.New, secret, nil, string(cat(lp8(specLabelRSAPayload), info)), 32)
		exporterSecret, _ := hkdf.Key(sha256.New, secret, nil, string(cat(lp8(specLabelRSAExporter), info)), 32)
		if s.payload, err = aesGCM(t, payloadKey).Open(nil, make([]byte, 12), ct, header); err != nil {
			t.Fatalf("AES-256-GCM: %v", err)
		}
		s.export = func(ctx string, n int) []byte {
			k, err := hkdf.Expand(sha256.New, exporterSecret, ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	default:
		k, err := specKEM(p.suite).NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hpke.NewRecipient(enc, k, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
		if err != nil {
			t.Fatalf("HPKE: %v", err)
		}
		if s.payload, err = r.Open(header, ct); err != nil {
			t.Fatalf("HPKE open: %v", err)
		}
		s.export = func(ctx string, n int) []byte {
			k, err := r.Export(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	if !bytes.Equal(s.payload, unhex(t, v.h["payload"])) {
		t.Fatal("the proof opens to another payload than the one listed")
	}
	return s
}

type specRange struct{ offset, length uint32 }

type specPayload struct {
	issuedAt, generation uint64
	nonce, challenge     []byte
	ranges               []specRange
	digest               []byte
}

// parseSpecPayload reads the payload layout of §7.
func parseSpecPayload(t *testing.T, b []byte) *specPayload {
	t.Helper()
	take := func(n int) []byte {
		if len(b) < n {
			t.Fatal("the payload is too short")
		}
		v := b[:n]
		b = b[n:]
		return v
	}
	p := &specPayload{}
	p.issuedAt = binary.BigEndian.Uint64(take(8))
	p.generation = binary.BigEndian.Uint64(take(8))
	p.nonce = take(32)
	p.challenge = take(int(binary.BigEndian.Uint16(take(2))))
	count := int(binary.BigEndian.Uint16(take(2)))
	for range count {
		p.ranges = append(p.ranges, specRange{binary.BigEndian.Uint32(take(4)), binary.BigEndian.Uint32(take(4))})
	}
	p.digest = take(32)
	if len(b) != 0 {
		t.Fatal("bytes after the digest")
	}
	return p
}

func checkPayloadFields(t *testing.T, h map[string]string, p *specPayload) {
	t.Helper()
	nonceID := sha256.Sum256(cat(lp8(specLabelNonceID), p.nonce))
	for k, want := range map[string]string{
		"issued_at":        strconv.FormatUint(p.issuedAt, 10),
		"proof_generation": strconv.FormatUint(p.generation, 10),
		"challenge":        hex.EncodeToString(p.challenge),
		"nonce":            hex.EncodeToString(p.nonce),
		"nonce_id":         hex.EncodeToString(nonceID[:]),
		"ranges":           specRangesString(p.ranges),
		"digest":           hex.EncodeToString(p.digest),
	} {
		if h[k] != want {
			t.Errorf("%s: the vector lists %q, the payload holds %q", k, h[k], want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkAccepted recomputes, for an accepted proof, everything a client
// computes: the header, the ranges, the digest, the canonical text; and
// checks the sealed response.
func checkAccepted(t *testing.T, v *vectorFile, p *params, s *sealed, pl *specPayload, c *protocol.Claims) {
	t.Helper()
	header := cat([]byte{1, byte(p.suite)}, unhex(t, v.h["key_id"]), lp8(p.role), lp8(p.clientID))
	if !bytes.Equal(header, s.header) {
		t.Fatal("header is not version || suite || key_id || lp8(role) || lp8(client_id)")
	}
	if base64.RawURLEncoding.Strict().EncodeToString(s.wire) != v.body {
		t.Fatal("an accepted proof is not the canonical base64url of header || enc || ct")
	}
	if len(pl.challenge) != 0 || pl.generation != p.generation {
		t.Fatal("an accepted proof with a challenge or another generation")
	}

	// Ranges: the exported DeriveRanges, and HMAC-SHA256 per §5.
	var nonce [protocol.NonceSize]byte
	copy(nonce[:], pl.nonce)
	ranges, err := protocol.DeriveRanges(&nonce, len(p.entropy), p.sampling, nil)
	if err != nil {
		t.Fatal(err)
	}
	exported := make([]specRange, len(ranges))
	for i, r := range ranges {
		exported[i] = specRange{r.Offset, r.Length}
	}
	if got := specRangesString(exported); got != v.h["ranges"] {
		t.Fatalf("DeriveRanges gives %s, the vector lists %s", got, v.h["ranges"])
	}
	if got := specRangesString(specDeriveRanges(pl.nonce, len(p.entropy), p.sampling, nil)); got != v.h["ranges"] {
		t.Fatalf("the equations of §5 give %s, the vector lists %s", got, v.h["ranges"])
	}

	// Digest per §6.
	var sampled []byte
	for _, r := range pl.ranges {
		sampled = append(sampled, p.entropy[r.offset:r.offset+r.length]...)
	}
	digest := sha256.Sum256(cat(lp8(specLabelDigest), header,
		u64(pl.issuedAt), u64(pl.generation), pl.nonce, lp16(pl.challenge), rangesBytes(pl.ranges), sampled))
	if hex.EncodeToString(digest[:]) != v.h["digest"] {
		t.Fatal("the digest is not the one of §6")
	}
	if id := c.NonceID(); hex.EncodeToString(id[:]) != v.h["nonce_id"] {
		t.Fatal("Claims.NonceID differs from the listed nonce_id")
	}

	// Sealed responses per §9: the listed one opens, and one the exported
	// API seals opens the same way.
	purpose := v.h["response_purpose"]
	open := func(sealed []byte) []byte {
		t.Helper()
		label := specLabelResponse + purpose
		gcm := aesGCM(t, s.export(label, 32))
		if len(sealed) < 12 {
			t.Fatal("sealed response too short")
		}
		pt, err := gcm.Open(nil, sealed[:12], sealed[12:], lp8(label))
		if err != nil {
			t.Fatalf("the sealed response does not open: %v", err)
		}
		return pt
	}
	plaintext := unhex(t, v.h["response_plaintext"])
	if !bytes.Equal(open(unhex(t, v.h["response"])), plaintext) {
		t.Fatal("the listed response opens to another plaintext")
	}
	fresh, err := c.SealResponse(purpose, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(open(fresh), plaintext) {
		t.Fatal("Claims.SealResponse does not follow §9")
	}
}

func specDeriveRanges(nonce []byte, size int, s protocol.Sampling, challenge []byte) []specRange {
	out := make([]specRange, s.Count)
	for i := range out {
		mac := hmac.New(sha256.New, nonce)
		mac.Write(cat(lp8(specLabelRanges), u32(uint32(size)), u32(uint32(s.Length)), u32(uint32(s.Count)), lp16(challenge), u32(uint32(i))))
		r := binary.BigEndian.Uint64(mac.Sum(nil)[:8])
		out[i] = specRange{uint32(r % uint64(size-s.Length+1)), uint32(s.Length)}
	}
	return out
}

func specRangesString(rs []specRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d:%d", r.offset, r.length)
	}
	return strings.Join(parts, ",")
}

func rangesBytes(rs []specRange) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(rs)))
	for _, r := range rs {
		b = append(append(b, u32(r.offset)...), u32(r.length)...)
	}
	return b
}

func aesGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func lp8[T string | []byte](s T) []byte {
	return append([]byte{byte(len(s))}, s...)
}
func lp16(b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }
func u32(v uint32) []byte  { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte  { return binary.BigEndian.AppendUint64(nil, v) }

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 %q: %v", s, err)
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unum(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
