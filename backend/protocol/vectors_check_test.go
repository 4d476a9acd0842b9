package protocol_test

// TestVectors checks docs/vectors the way an independent implementation
// would: it sees only the package's exported API, and it recomputes every
// intermediate value a vector lists (key ID, header, payload, ranges,
// digest, nonce ID, sealed response, nonce commitment, challenge MAC, login
// ID, login receipt) from docs/protocol.md's equations with the standard
// library alone. A vector that the exported API classes
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
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
	specLabelResponseKey = "vault-plugin-auth-entropy/v1/response-key"
	specLabelEntropyKey  = "vault-plugin-auth-entropy/v1/entropy-key"
	specLabelNonceID     = "vault-plugin-auth-entropy/v1/nonce-id"
	specLabelCommitment  = "vault-plugin-auth-entropy/v1/nonce-commitment"
	specLabelChallenge   = "vault-plugin-auth-entropy/v1/challenge"

	specReceiptPurpose = "login"
	specChallengeSize  = 56
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
	{"challenge", protocol.ErrChallenge},
	{"challenge-stale", protocol.ErrChallengeStale},
	{"generation", protocol.ErrGeneration},
	{"stale", errStale},
	{"sampling", protocol.ErrSampling},
	{"ranges", protocol.ErrRanges},
	{"digest", protocol.ErrDigest},
	{"challenge-required", protocol.ErrChallengeRequired},
	{"predates-window", protocol.ErrProofPredatesWindow},
}

// errStale is the class stale (step 12), which the exported API leaves to
// the server: it is the one that holds the superseded generation.
var errStale = errors.New("stale")

// classStep is the position of a class in the order of the checks.
func classStep(class string) int {
	if class == "ok" {
		return len(vectorClasses)
	}
	for i, c := range vectorClasses {
		if c.class == class {
			return i
		}
	}
	return -1
}

// vectorKeys is the order of a vector file's header lines. The first group
// is required; the others are all present or all absent.
var vectorKeys = [][]string{
	{"expect", "comment", "suite", "server_private_key", "server_public_key", "key_id", "role",
		"client_id", "generation", "sample_count", "sample_length", "skew_seconds", "now", "entropy"},
	{"challenge_key", "challenge_required"},
	{"superseded_at"},
	{"watermark"},
	{"header", "payload"},
	{"issued_at", "proof_generation", "challenge", "nonce", "nonce_id", "ranges", "digest"},
	{"nonce_commitment"},
	{"response_purpose", "response_plaintext", "response"},
	{"response_entropy"},
	{"login_id", "receipt_result", "receipt"},
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
	if seen["ok"] == 0 {
		t.Error("no vector of class ok")
	}
	checkClassesCovered(t, seen)
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
	// challengeKey is nil when the verifier holds none (no challenge is
	// valid); challengeRequired is the role's setting.
	challengeKey      []byte
	challengeRequired bool
	// supersededAt is set when the client has a superseded generation,
	// generation - 1 (step 12); watermark when the verifier started with a
	// replay watermark (step 17).
	supersededAt *uint64
	watermark    *uint64
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
	if v.has("challenge_key") {
		p.challengeKey = unhex(t, h["challenge_key"])
		if len(p.challengeKey) != 32 {
			t.Fatal("challenge_key is not 32 bytes")
		}
		if p.challengeRequired, err = strconv.ParseBool(h["challenge_required"]); err != nil || h["challenge_required"] != strconv.FormatBool(p.challengeRequired) {
			t.Fatalf("challenge_required is %q, not true or false", h["challenge_required"])
		}
	}

	if v.has("superseded_at") {
		at := unum(t, h["superseded_at"])
		p.supersededAt = &at
		if p.generation < 2 {
			t.Fatal("superseded_at for a client at generation 1, which has no superseded generation")
		}
	}
	if v.has("watermark") {
		w := unum(t, h["watermark"])
		p.watermark = &w
	}

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
		pl = parseSpecPayload(t, s.header[0], s.payload)
		checkPayloadFields(t, h, pl)
	}
	switch {
	case v.has("nonce_commitment") != (v.has("nonce") && v.has("challenge_key")):
		t.Fatal("nonce_commitment is listed exactly when the payload fields are and the verifier holds a challenge key")
	case v.has("nonce_commitment"):
		checkChallenge(t, v, &p, pl)
	}
	if got == "ok" {
		if pl == nil || !v.has("response") {
			t.Fatal("an ok vector must list header, payload, payload fields and a response")
		}
		checkAccepted(t, v, &p, s, pl, claims)
	} else if v.has("response") {
		t.Fatal("only ok vectors list a response")
	}
	if v.has("receipt") {
		checkReceipt(t, v, &p, s, pl, claims)
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
	if len(c.Challenge()) > 0 {
		if p.challengeKey == nil {
			return nil, protocol.ErrChallenge // no challenge is valid
		}
		if err := c.CheckChallenge(p.challengeKey, p.now); err != nil {
			return nil, err
		}
	}
	issuedAt := uint64(c.IssuedAt().Unix())
	if c.Generation() != p.generation {
		// Step 12: the superseded generation, proven no later than its
		// successor's first proof, is stale. (The vectors hold no entropy
		// of the superseded generation: none proves it later.)
		if p.supersededAt != nil && c.Generation() == p.generation-1 {
			if issuedAt > *p.supersededAt {
				return nil, errors.New("a proof of the superseded generation after superseded_at: no vector has its entropy")
			}
			return nil, errStale
		}
		return nil, protocol.ErrGeneration
	}
	if err := c.Verify(p.entropy, p.sampling); err != nil {
		return nil, err
	}
	if p.challengeRequired && len(c.Challenge()) == 0 {
		return nil, protocol.ErrChallengeRequired
	}
	// Step 17, in the watermark design of §8.3.
	if p.watermark != nil && issuedAt <= *p.watermark {
		return nil, protocol.ErrProofPredatesWindow
	}
	return c, nil
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
	version              byte // the header's
	issuedAt, generation uint64
	nonce, challenge     []byte
	ranges               []specRange
	digest               []byte
}

// parseSpecPayload reads the payload layout of §7 for the header's version:
// version 1 carries u16(count) and the ranges before the digest, version 2
// does not.
func parseSpecPayload(t *testing.T, version byte, b []byte) *specPayload {
	t.Helper()
	take := func(n int) []byte {
		if len(b) < n {
			t.Fatal("the payload is too short")
		}
		v := b[:n]
		b = b[n:]
		return v
	}
	p := &specPayload{version: version}
	p.issuedAt = binary.BigEndian.Uint64(take(8))
	p.generation = binary.BigEndian.Uint64(take(8))
	p.nonce = take(32)
	p.challenge = take(int(binary.BigEndian.Uint16(take(2))))
	if version == 1 {
		count := int(binary.BigEndian.Uint16(take(2)))
		for range count {
			p.ranges = append(p.ranges, specRange{binary.BigEndian.Uint32(take(4)), binary.BigEndian.Uint32(take(4))})
		}
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
		"digest":           hex.EncodeToString(p.digest),
	} {
		if h[k] != want {
			t.Errorf("%s: the vector lists %q, the payload holds %q", k, h[k], want)
		}
	}
	// The ranges a vector lists are the ones the client hashed; a
	// version 1 payload carries them too.
	if p.version == 1 && h["ranges"] != specRangesString(p.ranges) {
		t.Errorf("ranges: the vector lists %q, the version 1 payload holds %q", h["ranges"], specRangesString(p.ranges))
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
	if pl.version != 1 && pl.version != 2 {
		t.Fatalf("an accepted proof of version %d", pl.version)
	}
	header := cat([]byte{pl.version, byte(p.suite)}, unhex(t, v.h["key_id"]), lp8(p.role), lp8(p.clientID))
	if !bytes.Equal(header, s.header) {
		t.Fatal("header is not version || suite || key_id || lp8(role) || lp8(client_id)")
	}
	if base64.RawURLEncoding.Strict().EncodeToString(s.wire) != v.body {
		t.Fatal("an accepted proof is not the canonical base64url of header || enc || ct")
	}
	if pl.generation != p.generation {
		t.Fatal("an accepted proof of another generation")
	}
	// Its challenge, if any, was checked by checkChallenge.
	if len(pl.challenge) != 0 && p.challengeKey == nil {
		t.Fatal("an accepted proof with a challenge, and the verifier holds no challenge key")
	}
	if len(pl.challenge) == 0 && p.challengeRequired {
		t.Fatal("an accepted proof without a challenge, and the role requires one")
	}

	// Ranges: the exported DeriveRanges, and HMAC-SHA256 per §5.
	var nonce [protocol.NonceSize]byte
	copy(nonce[:], pl.nonce)
	ranges, err := protocol.DeriveRanges(&nonce, len(p.entropy), p.sampling, pl.challenge)
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
	if got := specRangesString(specDeriveRanges(pl.nonce, len(p.entropy), p.sampling, pl.challenge)); got != v.h["ranges"] {
		t.Fatalf("the equations of §5 give %s, the vector lists %s", got, v.h["ranges"])
	}

	// Digest per §6, over the derived ranges (which a version 1 payload
	// carries, checked by checkPayloadFields against the listed ones).
	derived := specDeriveRanges(pl.nonce, len(p.entropy), p.sampling, pl.challenge)
	var sampled []byte
	for _, r := range derived {
		sampled = append(sampled, p.entropy[r.offset:r.offset+r.length]...)
	}
	digest := sha256.Sum256(cat(lp8(specLabelDigest), header,
		u64(pl.issuedAt), u64(pl.generation), pl.nonce, lp16(pl.challenge), rangesBytes(derived), sampled))
	if hex.EncodeToString(digest[:]) != v.h["digest"] {
		t.Fatal("the digest is not the one of §6")
	}
	if id := c.NonceID(); hex.EncodeToString(id[:]) != v.h["nonce_id"] {
		t.Fatal("Claims.NonceID differs from the listed nonce_id")
	}

	// Sealed responses per §9: the listed one opens, and one the exported
	// API seals opens the same way.
	purpose := v.h["response_purpose"]
	// The listed response is keyed by the server's entropy, unless the
	// vector names another (a receipt the client must refuse).
	responseEntropy := p.entropy
	if v.has("response_entropy") {
		responseEntropy = b64(t, v.h["response_entropy"])
	}
	open := func(sealed []byte) []byte {
		t.Helper()
		label := specLabelResponse + purpose
		gcm := aesGCM(t, specResponseKey(s, label, responseEntropy))
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
	fresh, err := c.SealResponse(purpose, plaintext, responseEntropy)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(open(fresh), plaintext) {
		t.Fatal("Claims.SealResponse does not follow §9")
	}
}

// checkChallenge recomputes, for a vector whose verifier holds a challenge
// key, the nonce's commitment and the challenge's MAC and expiry (§13) with
// crypto/hmac, and checks that they agree with the class the verifier
// reached: a MAC that verifies exactly when the vector gets past the
// challenge step, an expiry before now exactly when it is challenge-stale.
func checkChallenge(t *testing.T, v *vectorFile, p *params, pl *specPayload) {
	t.Helper()
	commitment := sha256.Sum256(cat(lp8(specLabelCommitment), pl.nonce))
	if hex.EncodeToString(commitment[:]) != v.h["nonce_commitment"] {
		t.Fatal("nonce_commitment is not SHA-256(lp8(label) || nonce)")
	}
	var nonce protocol.Nonce
	copy(nonce[:], pl.nonce)
	if nonce.Commitment() != commitment {
		t.Fatal("Nonce.Commitment differs from the equation of §13")
	}
	step := classStep(v.h["expect"])
	if step < classStep("challenge") || len(pl.challenge) == 0 {
		return // refused before the challenge is looked at, or none to look at
	}
	mac := func(key []byte, expiresAndRandom []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(cat(lp8(specLabelChallenge), expiresAndRandom, lp8(p.role), lp8(p.clientID), commitment[:]))
		return m.Sum(nil)
	}
	macOK := len(pl.challenge) == specChallengeSize && hmac.Equal(mac(p.challengeKey, pl.challenge[:24]), pl.challenge[24:])
	stale := macOK && binary.BigEndian.Uint64(pl.challenge[:8]) < uint64(p.now.Unix())
	switch {
	case step == classStep("challenge") && macOK:
		t.Fatal("the vector expects challenge, but the challenge's MAC verifies by §13")
	case step > classStep("challenge") && !macOK:
		t.Fatal("the vector gets past the challenge, but its MAC does not verify by §13")
	case step == classStep("challenge-stale") && !stale:
		t.Fatal("the vector expects challenge-stale, but expires_at is not before now")
	case step > classStep("challenge-stale") && stale:
		t.Fatal("the vector gets past the challenge, but expires_at is before now")
	}
	if step != classStep("ok") {
		return
	}
	// The exported NewChallenge makes challenges of the same form for
	// this nonce: u64(expires_at) || 16 random bytes || the MAC of §13.
	expires := time.Unix(int64(binary.BigEndian.Uint64(pl.challenge[:8])), 0)
	fresh, err := protocol.NewChallenge(p.challengeKey, p.role, p.clientID, commitment, expires)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != specChallengeSize || !bytes.Equal(fresh[:8], pl.challenge[:8]) || !hmac.Equal(mac(p.challengeKey, fresh[:24]), fresh[24:]) {
		t.Fatal("protocol.NewChallenge does not follow §13")
	}
}

// specReceipt is a login receipt (§9.2) read with the member names the
// document gives.
type specReceipt struct {
	Version           *int64          `json:"receipt_version"`
	LoginID           *string         `json:"login_id"`
	Role              *string         `json:"role"`
	ClientID          *string         `json:"client_id"`
	Generation        *uint64         `json:"generation"`
	ChallengeRequired *bool           `json:"challenge_required"`
	Rotation          *specRotation   `json:"rotation"`
	ServerKeys        []specServerKey `json:"server_keys"`
	ProofVersion      *int64          `json:"proof_version"`
}

type specRotation struct {
	Generation   uint64 `json:"generation"`
	Entropy      string `json:"entropy"`
	SampleCount  int    `json:"sample_count"`
	SampleLength int    `json:"sample_length"`
}

type specServerKey struct {
	KeyID     string `json:"key_id"`
	Suite     string `json:"suite"`
	PublicKey string `json:"public_key"`
	Current   bool   `json:"current"`
}

func proofVersionOr0(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// specSuites are the suite names and bytes of §3.1.
var specSuites = map[string]byte{
	"xwing-hkdf-sha256-aes-256-gcm":   0x01,
	"p256-hkdf-sha256-aes-256-gcm":    0x02,
	"rsa3072-oaep-sha256-aes-256-gcm": 0x03,
}

// specSamplingValid is "valid for" of §2.4.
func specSamplingValid(size, n, l int) bool {
	return size >= 4096 && size <= 262144 && n >= 1 && n <= 512 && l >= 1 && l <= 4096 && n*l >= 32 && n*l <= size
}

// clientChecksReceipt is what a client does with the receipt of its login
// (§9.2), from the equations alone: open it under purpose "login", read it,
// and check that it confirms this login. It returns the receipt, or why the
// client refuses it.
func clientChecksReceipt(t *testing.T, s *sealed, p *params, pl *specPayload, text string) (*specReceipt, []byte, string) {
	t.Helper()
	sealedBytes, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil || strings.ContainsAny(text, "\r\n=") {
		return nil, nil, "the receipt is not canonical base64url"
	}
	label := specLabelResponse + specReceiptPurpose
	if len(sealedBytes) < 28 {
		return nil, nil, "the receipt is shorter than 28 bytes"
	}
	pt, err := aesGCM(t, specResponseKey(s, label, p.entropy)).Open(nil, sealedBytes[:12], sealedBytes[12:], lp8(label))
	if err != nil {
		return nil, nil, "the receipt does not open under purpose login"
	}
	var r specReceipt
	if err := json.Unmarshal(pt, &r); err != nil {
		return nil, pt, "the receipt is not JSON: " + err.Error()
	}
	nonceID := sha256.Sum256(cat(lp8(specLabelNonceID), pl.nonce))
	switch {
	case r.Version == nil || *r.Version != 2:
		return nil, pt, "receipt_version is not 2"
	case r.LoginID == nil || *r.LoginID != hex.EncodeToString(nonceID[:16]):
		return nil, pt, "login_id is not this login's"
	case r.Role == nil || *r.Role != p.role || r.ClientID == nil || *r.ClientID != p.clientID:
		return nil, pt, "role or client_id are not this login's"
	case r.Generation == nil || *r.Generation != pl.generation:
		return nil, pt, "generation is not the one proven"
	case r.ChallengeRequired == nil:
		return nil, pt, "challenge_required is missing"
	case *r.ChallengeRequired && len(pl.challenge) == 0:
		return nil, pt, "challenge_required is true for a proof without a challenge"
	case r.ProofVersion != nil && *r.ProofVersion < 0:
		return nil, pt, "proof_version is negative"
	case max(1, proofVersionOr0(r.ProofVersion)) < int64(pl.version): // absent or 0 means 1
		return nil, pt, "proof_version is below the version of the proof the server has read"
	}
	if rot := r.Rotation; rot != nil {
		entropy, ok := specBase64(rot.Entropy)
		switch {
		case rot.Generation != pl.generation+1:
			return nil, pt, "the rotation's generation is not the proven one plus 1"
		case rot.Generation > 1<<53-1:
			return nil, pt, "the rotation's generation is above 2^53 - 1"
		case !ok:
			return nil, pt, "the rotation's entropy is not canonical padded base64"
		case !specSamplingValid(len(entropy), rot.SampleCount, rot.SampleLength):
			return nil, pt, "the rotation's sampling is not valid for its entropy"
		}
	}
	if len(r.ServerKeys) > 32 {
		return nil, pt, "more than 32 server keys"
	}
	ids := map[string]bool{}
	for i, k := range r.ServerKeys {
		suite, known := specSuites[k.Suite]
		pub, ok := specBase64(k.PublicKey)
		if !known || !ok {
			return nil, pt, "a server key of an unknown suite or not in canonical padded base64"
		}
		id := sha256.Sum256(cat(lp8(specLabelKeyID), []byte{suite}, pub))
		if hex.EncodeToString(id[:8]) != k.KeyID {
			return nil, pt, "a server key's key_id is not its own"
		}
		if ids[k.KeyID] {
			return nil, pt, "a server key is listed twice"
		}
		ids[k.KeyID] = true
		if k.Current != (i == 0) {
			return nil, pt, "server_keys does not list exactly one current key, first"
		}
	}
	return &r, pt, ""
}

// specBase64 decodes RFC 4648 §4 base64 with padding, canonically (§2.1):
// only the 64 characters and final '=' padding, a length that is a multiple
// of 4, and the unused bits of the last character zero. It is written out
// rather than left to encoding/base64, whose decoder skips CR and LF.
func specBase64(s string) ([]byte, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if len(s)%4 != 0 {
		return nil, false
	}
	pad := len(s) - len(strings.TrimRight(s, "="))
	if pad > 2 {
		return nil, false
	}
	var out []byte
	var acc, bits uint
	for _, c := range s[:len(s)-pad] {
		i := strings.IndexRune(alphabet, c)
		if i < 0 {
			return nil, false
		}
		acc, bits = acc<<6|uint(i), bits+6
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	// What is left are the unused bits: 2 with one '=', 4 with two.
	if acc != 0 || (pad == 1 && bits != 2) || (pad == 2 && bits != 4) || (pad == 0 && bits != 0) {
		return nil, false
	}
	return out, true
}

// checkReceipt checks the login receipt of an ok vector: its text is the
// sealed response, its login_id the proof's, and a client that follows
// §9.2 accepts or refuses it as receipt_result says. An accepted receipt
// must also be one the server makes (§9.2, §14, §16), and the exported
// Claims.SealReceipt must seal the same receipt the same way.
func checkReceipt(t *testing.T, v *vectorFile, p *params, s *sealed, pl *specPayload, c *protocol.Claims) {
	t.Helper()
	if v.h["expect"] != "ok" {
		t.Fatal("only ok vectors list a receipt")
	}
	response := unhex(t, v.h["response"])
	if base64.RawURLEncoding.Strict().EncodeToString(response) != v.h["receipt"] {
		t.Fatal("receipt is not the canonical base64url of response")
	}
	nonceID := sha256.Sum256(cat(lp8(specLabelNonceID), pl.nonce))
	if v.h["login_id"] != hex.EncodeToString(nonceID[:16]) || c.LoginID() != v.h["login_id"] {
		t.Fatal("login_id is not the hexadecimal of the first 16 bytes of nonce_id")
	}
	r, pt, refusal := clientChecksReceipt(t, s, p, pl, v.h["receipt"])
	switch v.h["receipt_result"] {
	case "accept":
		if refusal != "" {
			t.Fatalf("a client following §9.2 refuses the receipt: %s", refusal)
		}
	case "refuse":
		if refusal == "" {
			t.Fatal("a client following §9.2 accepts a receipt the vector says it must refuse")
		}
		return
	default:
		t.Fatalf("receipt_result %q is neither accept nor refuse", v.h["receipt_result"])
	}

	// What the server puts in a receipt.
	if *r.ChallengeRequired != p.challengeRequired {
		t.Fatal("challenge_required is not the role's setting")
	}
	if len(r.ServerKeys) > 0 {
		own := -1
		for i, k := range r.ServerKeys {
			if k.KeyID == v.h["key_id"] {
				own = i
			}
			if k.Current != (i == 0) {
				t.Fatal("server_keys must list exactly one current key, first")
			}
		}
		if own <= 0 {
			t.Fatal("server_keys are listed although the proof's key is current, or without it")
		}
	}

	// The exported API: the same receipt, sealed by Claims.SealReceipt,
	// opens under purpose login to the same JSON value.
	var exported protocol.Receipt
	if err := json.Unmarshal(pt, &exported); err != nil {
		t.Fatal(err)
	}
	want := c.NewReceipt(p.challengeRequired)
	if exported.Version != want.Version || exported.LoginID != want.LoginID || exported.Role != want.Role ||
		exported.ClientID != want.ClientID || exported.Generation != want.Generation || exported.ChallengeRequired != want.ChallengeRequired {
		t.Fatalf("Claims.NewReceipt makes %+v, the vector's receipt confirms %+v", want, exported)
	}
	text, err := c.SealReceipt(&exported, p.entropy)
	if err != nil {
		t.Fatal(err)
	}
	_, again, refusal := clientChecksReceipt(t, s, p, pl, text)
	if refusal != "" {
		t.Fatalf("the receipt Claims.SealReceipt makes is refused: %s", refusal)
	}
	var a, b any
	if json.Unmarshal(pt, &a) != nil || json.Unmarshal(again, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatal("Claims.SealReceipt seals another JSON value than the vector's receipt")
	}
}

// specResponseKey is the key of a sealed response (§9.1): the exporter key
// of the proof's context, keyed by the entropy key of the server's copy of
// the entropy.
func specResponseKey(s *sealed, context string, entropy []byte) []byte {
	entropyKey := sha256.Sum256(cat(lp8(specLabelEntropyKey), entropy))
	m := hmac.New(sha256.New, entropyKey[:])
	m.Write(cat(lp8(specLabelResponseKey), s.export(context, 32)))
	return m.Sum(nil)
}

func specDeriveRanges(nonce []byte, size int, s protocol.Sampling, challenge []byte) []specRange {
	mac := hmac.New(sha256.New, nonce)
	mac.Write(cat(lp8(specLabelRanges), u32(uint32(size)), u32(uint32(s.Length)), u32(uint32(s.Count)), lp16(challenge)))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		panic(err)
	}
	// The keystream block by block: AES-256 of the counter block j, the
	// 128-bit big-endian integer j.
	var stream []byte
	for j := 0; len(stream) < 8*s.Count; j++ {
		var ctr, ks [16]byte
		binary.BigEndian.PutUint64(ctr[8:], uint64(j))
		block.Encrypt(ks[:], ctr[:])
		stream = append(stream, ks[:]...)
	}
	out := make([]specRange, s.Count)
	for i := range out {
		r := binary.BigEndian.Uint64(stream[8*i:])
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
