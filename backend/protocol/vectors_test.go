package protocol

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"
)

// The test vectors of docs/protocol.md §12: one scenario per file in
// docs/vectors. TestGenerateVectors writes them; TestVectors (in
// vectors_check_test.go, an external test package) checks them.
//
//	go test ./backend/protocol -run '^TestGenerateVectors$' -generate
//
// The generator may use the package's unexported parts to build proofs
// that are wrong in exactly one way: every outer layer is valid, and only
// the check the vector is named after fails.

var generateVectors = flag.Bool("generate", false, "write the protocol test vectors to "+vectorsDir)

// vectorsDir is docs/vectors, relative to this package's directory.
const vectorsDir = "../../docs/vectors"

// Parameters shared by every vector unless a scenario changes them.
const (
	vecNow        = 1767225600 // 2026-01-01T00:00:00Z, the verifier's clock
	vecSkew       = 60         // seconds
	vecIssuedAt   = vecNow - 5 // the client's clock runs 5 s behind
	vecRole       = "web"
	vecClientID   = "client-1"
	vecGeneration = 1
	vecEntropyLen = MinEntropySize
	vecLabel      = "vault-plugin-auth-entropy/test-vectors/"
	vecPurpose    = "confirm"
	vecResponse   = "login accepted"
	// vecChallengeTTL is how long the challenges of the vectors are valid,
	// as the server's challenge endpoint makes them.
	vecChallengeTTL = 60
)

var vecSampling = Sampling{Count: 16, Length: 32}

// vecChallengeKey is the server's challenge MAC key in the vectors of
// challenge mode.
var vecChallengeKey = vectorBytes("challenge-key", ChallengeKeySize)

// vectorBytes is n bytes of SHA-256 in counter mode:
// SHA-256(lp8(vecLabel || name) || u32(i)) for i = 0, 1, ...
func vectorBytes(name string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	for i := uint32(0); len(out) < n; i++ {
		h := sha256.New()
		h.Write(lp8(vecLabel + name))
		h.Write(binary.BigEndian.AppendUint32(nil, i))
		out = h.Sum(out)
	}
	return out[:n]
}

// vectorEntropy is the server's (and, unless a scenario says otherwise, the
// client's) copy of the entropy in every vector.
func vectorEntropy() []byte { return vectorBytes("entropy", vecEntropyLen) }

func vectorNonce(name string) [NonceSize]byte {
	var n [NonceSize]byte
	copy(n[:], vectorBytes("nonce/"+name, NonceSize))
	return n
}

// rawHeader encodes a header without checking it, so that scenarios can
// carry invalid versions, suites and names.
func rawHeader(version, suite byte, id KeyID, role, clientID string) []byte {
	b := []byte{version, suite}
	b = append(b, id[:]...)
	b = appendLP8(b, role)
	return appendLP8(b, clientID)
}

// scenario describes one vector: the verifier's parameters (the file's
// header) and how the client builds the proof. Zero values take the
// defaults above; the edit hooks run in the order they are listed.
type scenario struct {
	name    string
	expect  string
	comment string

	// The verifier's side.
	suite      Suite  // suite of the server key (default P-256: small files)
	role       string // the request's names
	clientID   string
	generation uint64   // the client's current generation
	sampling   Sampling // the client's sampling
	skew       int64    // seconds; 0 means vecSkew
	// challengeMode: the verifier holds vecChallengeKey and checks the
	// challenge of a proof with it (§13); otherwise it holds no challenge
	// key and refuses any challenge. challengeRequired: the role requires
	// challenge mode.
	challengeMode     bool
	challengeRequired bool
	// supersededAt: the client also has a superseded generation,
	// generation - 1, whose successor was first proven by a proof issued
	// at this time (§14.3); a proof of it issued no later is stale. The
	// vectors give no entropy for it, so none proves it later than that.
	supersededAt *uint64
	// watermark: the verifier keeps a replay watermark and started with
	// this one (§8.3): a proof issued at or before it predates its window.
	watermark *uint64

	// The client's side.
	version      uint8      // the proof's protocol version; 0 means Version
	sealTo       *PublicKey // default: the server key
	hdrRole      *string    // header names; default the request's
	hdrClientID  *string
	header       func(h []byte) []byte // edits the encoded header before sealing
	issuedAt     *uint64
	proofGen     *uint64
	challenge    []byte
	challengeFor func(n *Nonce) []byte // the challenge, made for the proof's nonce; overrides challenge
	clientSample *Sampling             // sampling the client derives its ranges with
	clientEnt    []byte                // the client's entropy (derivation size and digest)
	ranges       func(p *payload)
	digest       func(header []byte, p *payload, entropy []byte) [DigestSize]byte
	editDigest   func(p *payload)
	plaintext    func(b []byte) []byte
	seal         func(pk *PublicKey, header, pt []byte) (enc, ct []byte)
	wire         func(w []byte) []byte
	encode       func(w []byte) string

	// The server's answer to an ok proof: a login receipt (§9.2) instead
	// of the generic sealed response.
	receipt *receiptScenario
}

// receiptScenario is the receipt an ok vector carries: the one the server
// makes for the proof, edited, sealed under purpose, and whether the client
// must refuse it.
type receiptScenario struct {
	edit    func(r *Receipt)
	purpose string // default ReceiptPurpose
	// entropy keys the receipt in place of the server's copy (§9.1).
	entropy []byte
	// text rewrites the receipt's JSON: another encoding of the same
	// members.
	text   func(string) string
	refuse bool
}

func ptr[T any](v T) *T { return &v }

type vectorKeys map[Suite]*PrivateKey

// built is a generated vector, ready to be written.
type built struct {
	sc    scenario
	key   *PrivateKey
	proof string
	// Set when the proof's wire bytes open under the server key.
	header, plain []byte
	p             *payload // set when plain parses
	// Set for ok vectors: the sealed response, its purpose and plaintext.
	response, responsePlain []byte
	responsePurpose         string
	receipt                 string  // set when the response is a receipt
	entropy                 []byte  // the server's copy, which keys the sealed responses
	ranges                  []Range // the ranges the client hashed (in version 1, also the payload's)
	responseEntropy         []byte  // set when another entropy keyed the response
}

func (sc scenario) build(t *testing.T, keys vectorKeys, entropy []byte) *built {
	t.Helper()
	key := keys[sc.suite]
	pk := key.Public()
	if sc.sealTo != nil {
		pk = sc.sealTo
	}
	role, clientID := sc.role, sc.clientID
	if sc.hdrRole != nil {
		role = *sc.hdrRole
	}
	if sc.hdrClientID != nil {
		clientID = *sc.hdrClientID
	}
	version := sc.version
	if version == 0 {
		version = Version
	}
	header := rawHeader(version, byte(pk.suite), pk.id, role, clientID)
	if sc.header != nil {
		header = sc.header(header)
	}

	clientEnt := entropy
	if sc.clientEnt != nil {
		clientEnt = sc.clientEnt
	}
	sampling := sc.sampling
	if sc.clientSample != nil {
		sampling = *sc.clientSample
	}
	nonce := vectorNonce(sc.name)
	if sc.challengeFor != nil {
		n := Nonce(nonce)
		sc.challenge = sc.challengeFor(&n)
	}
	ranges, err := DeriveRanges(&nonce, len(clientEnt), sampling, sc.challenge)
	if err != nil {
		t.Fatalf("%s: %v", sc.name, err)
	}
	p := &payload{
		version:    version,
		issuedAt:   vecIssuedAt,
		generation: sc.generation,
		nonce:      nonce,
		challenge:  sc.challenge,
		ranges:     ranges,
	}
	if sc.issuedAt != nil {
		p.issuedAt = *sc.issuedAt
	}
	if sc.proofGen != nil {
		p.generation = *sc.proofGen
	}
	if sc.ranges != nil {
		sc.ranges(p)
	}
	digestEnt := clientEnt
	for _, r := range p.ranges { // a range past the end samples zeros
		if end := int(r.Offset) + int(r.Length); end > len(digestEnt) {
			digestEnt = append(append([]byte(nil), digestEnt...), make([]byte, end-len(digestEnt))...)
		}
	}
	// The digest is made over the ranges the client holds, edited or
	// not; in version 1 they are also the ones the payload carries.
	if sc.digest != nil {
		p.digest = sc.digest(header, p, digestEnt)
	} else {
		p.digest = computeDigest(header, p, p.ranges, digestEnt)
	}
	if sc.editDigest != nil {
		sc.editDigest(p)
	}
	pt := p.marshal()
	if sc.plaintext != nil {
		pt = sc.plaintext(pt)
	}
	var enc, ct []byte
	var clientExp exporter // the client's side of the sealing context
	if sc.seal != nil {
		enc, ct = sc.seal(pk, header, pt)
	} else {
		enc, ct, clientExp, err = sealTo(pk, hpkeInfo(header), header, pt)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
	}
	w := append(append(append([]byte(nil), header...), enc...), ct...)
	if sc.wire != nil {
		w = sc.wire(w)
	}
	proof := proofEncoding.EncodeToString(w)
	if sc.encode != nil {
		proof = sc.encode(w)
	}

	b := &built{sc: sc, key: key, proof: proof, entropy: entropy, ranges: p.ranges}
	// Record what the payload opens to, when the proof's bytes are
	// recoverable from its text (see lenientDecode) and open under the
	// server key with the header that was sealed.
	if lw, err := lenientDecode(proof); err == nil && bytes.Equal(lw, w) && len(w) >= len(header) && bytes.Equal(w[:len(header)], header) {
		rest := w[len(header):]
		if n := key.public.suite.encLen(); len(rest) >= n {
			if plain, exp, err := openWith(key, rest[:n], hpkeInfo(header), header, rest[n:]); err == nil {
				b.header, b.plain = header, plain
				if pp, err := parsePayload(plain, version); err == nil {
					b.p = pp
				}
				switch {
				case sc.expect == "ok" && sc.receipt != nil:
					b.sealReceipt(t, exp, clientExp)
				case sc.expect == "ok":
					c := &Claims{p: b.p, exp: exp}
					if b.response, err = c.SealResponse(vecPurpose, []byte(vecResponse), b.entropy); err != nil {
						t.Fatal(err)
					}
					b.responsePurpose, b.responsePlain = vecPurpose, []byte(vecResponse)
				}
			}
		}
	}
	return b
}

// sealReceipt makes the login receipt of an ok vector the way the server
// does (Claims.NewReceipt, JSON, the sealed response of §9 under purpose
// "login"), but with a GCM nonce derived from the vector's name, so that
// sealing it draws nothing from the random stream that the vectors after it
// depend on. It then opens it with the
// client's side of the context, as ClientSession.OpenReceipt does after a
// login, and checks that the client accepts or refuses it as the scenario
// says.
func (b *built) sealReceipt(t *testing.T, serverExp, clientExp exporter) {
	t.Helper()
	sc, rs := b.sc, b.sc.receipt
	if clientExp == nil {
		t.Fatalf("%s: a receipt needs the default sealing", sc.name)
	}
	c := &Claims{Header: Header{Role: sc.role, ClientID: sc.clientID}, p: b.p, exp: serverExp}
	r := c.NewReceipt(sc.challengeRequired)
	if rs.edit != nil {
		rs.edit(r)
	}
	pt, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if rs.text != nil {
		rewritten := rs.text(string(pt))
		if rewritten == string(pt) {
			t.Fatalf("%s: the rewrite of the receipt's JSON changed nothing", sc.name)
		}
		pt = []byte(rewritten)
	}
	purpose := rs.purpose
	if purpose == "" {
		purpose = ReceiptPurpose
	}
	sealEntropy := b.entropy
	if rs.entropy != nil {
		sealEntropy, b.responseEntropy = rs.entropy, rs.entropy
	}
	b.response, err = sealResponseWith(serverExp, purpose, sealEntropy, pt, vectorBytes("response-nonce/"+sc.name, responseNonceSize))
	if err != nil {
		t.Fatal(err)
	}
	b.responsePurpose, b.responsePlain = purpose, pt
	b.receipt = proofEncoding.EncodeToString(b.response)

	session := &ClientSession{exp: clientExp, role: sc.role, clientID: sc.clientID, generation: b.p.generation, version: b.p.version, loginID: loginID(nonceID(&b.p.nonce)), challenged: len(b.p.challenge) > 0, entropyKey: entropyKey(b.entropy)}
	got, err := session.OpenReceipt(b.receipt)
	switch {
	case rs.refuse && err == nil:
		t.Errorf("%s: OpenReceipt accepts a receipt the client must refuse", sc.name)
	case !rs.refuse && err != nil:
		t.Errorf("%s: OpenReceipt refuses the receipt: %v", sc.name, err)
	case !rs.refuse && got.LoginID != session.LoginID():
		t.Errorf("%s: the receipt names login %s, the session %s", sc.name, got.LoginID, session.LoginID())
	}
}

// sealResponseWith is Claims.SealResponse with a given GCM nonce.
func sealResponseWith(exp exporter, purpose string, entropy, plaintext, nonce []byte) ([]byte, error) {
	ek := entropyKey(entropy)
	gcm, aad, err := responseAEAD(exp, purpose, &ek)
	if err != nil {
		return nil, err
	}
	if len(nonce) != responseNonceSize {
		return nil, errors.New("the response nonce must be 12 bytes")
	}
	return gcm.Seal(append([]byte(nil), nonce...), nonce, plaintext, aad), nil
}

// lenientDecode recovers the bytes of a proof that is not canonical only
// because of its text form (padding, line breaks, white space, trailing
// bits), so that such vectors can still list what their payload holds.
func lenientDecode(s string) ([]byte, error) {
	s = strings.NewReplacer("\r", "", "\n", "", " ", "", "=", "").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// classOf names the verifier's first error as an expect class.
func classOf(err error) string {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"malformed", ErrMalformed}, {"version", ErrVersion}, {"suite", ErrSuite},
		{"unknown-key", ErrUnknownKey}, {"open", ErrOpen}, {"header-mismatch", ErrHeaderMismatch},
		{"too-old", ErrTooOld}, {"from-future", ErrFromFuture}, {"generation", ErrGeneration},
		{"challenge", ErrChallenge}, {"challenge-stale", ErrChallengeStale}, {"sampling", ErrSampling},
		{"ranges", ErrRanges}, {"digest", ErrDigest}, {"challenge-required", ErrChallengeRequired},
		{"replay", ErrReplay}, {"stale", errVectorStale}, {"predates-window", ErrProofPredatesWindow},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "unexpected error: " + err.Error()
}

// errVectorStale is the class stale (§8.1 step 12), which the protocol
// package leaves to the server: it holds the superseded generation.
var errVectorStale = errors.New("stale")

// check runs the verifier on the built vector, as TestVectors will.
func (b *built) check() string {
	sc := b.sc
	env, err := ParseProof(b.proof)
	if err != nil {
		return classOf(err)
	}
	var sk *PrivateKey
	if env.Header.KeyID == b.key.public.id {
		sk = b.key
	}
	c, err := env.Open(sk)
	if err == nil {
		err = c.CheckHeader(sc.role, sc.clientID)
	}
	if err == nil {
		err = c.CheckTime(time.Unix(vecNow, 0), time.Duration(sc.skew)*time.Second)
	}
	if err == nil && len(c.Challenge()) > 0 {
		if sc.challengeMode {
			err = c.CheckChallenge(vecChallengeKey, time.Unix(vecNow, 0))
		} else {
			err = ErrChallenge // no challenge key: no challenge is valid
		}
	}
	if err == nil && c.Generation() != sc.generation {
		err = ErrGeneration
		if sc.supersededAt != nil && c.Generation() == sc.generation-1 {
			if uint64(c.IssuedAt().Unix()) > *sc.supersededAt {
				return "the vectors give no entropy of the superseded generation"
			}
			err = errVectorStale
		}
	}
	if err == nil {
		err = c.Verify(vectorEntropy(), sc.sampling)
	}
	if err == nil && sc.challengeRequired && len(c.Challenge()) == 0 {
		err = ErrChallengeRequired
	}
	if err == nil && sc.watermark != nil && uint64(c.IssuedAt().Unix()) <= *sc.watermark {
		err = ErrProofPredatesWindow
	}
	return classOf(err)
}

func rangesString(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d:%d", r.Offset, r.Length)
	}
	return strings.Join(parts, ",")
}

// marshal writes the vector file: header lines in the order of §12.1, a blank
// line, and the proof exactly as sent (no final newline).
func (b *built) marshal(entropy []byte) []byte {
	sc := b.sc
	var buf bytes.Buffer
	line := func(k, v string) {
		if v == "" {
			fmt.Fprintf(&buf, "%s:\n", k)
		} else {
			fmt.Fprintf(&buf, "%s: %s\n", k, v)
		}
	}
	std := base64.StdEncoding.EncodeToString
	line("expect", sc.expect)
	line("comment", sc.comment)
	line("suite", b.key.public.suite.String())
	line("server_private_key", std(b.key.Bytes()))
	line("server_public_key", std(b.key.public.Bytes()))
	line("key_id", b.key.public.id.String())
	line("role", sc.role)
	line("client_id", sc.clientID)
	line("generation", strconv.FormatUint(sc.generation, 10))
	line("sample_count", strconv.Itoa(sc.sampling.Count))
	line("sample_length", strconv.Itoa(sc.sampling.Length))
	line("skew_seconds", strconv.FormatInt(sc.skew, 10))
	line("now", strconv.FormatInt(vecNow, 10))
	line("entropy", std(entropy))
	if sc.challengeMode {
		line("challenge_key", hex.EncodeToString(vecChallengeKey))
		line("challenge_required", strconv.FormatBool(sc.challengeRequired))
	}
	if sc.supersededAt != nil {
		line("superseded_at", strconv.FormatUint(*sc.supersededAt, 10))
	}
	if sc.watermark != nil {
		line("watermark", strconv.FormatUint(*sc.watermark, 10))
	}
	if b.plain != nil {
		line("header", hex.EncodeToString(b.header))
		line("payload", hex.EncodeToString(b.plain))
	}
	if p := b.p; p != nil {
		c := &Claims{p: p}
		id := c.NonceID()
		line("issued_at", strconv.FormatUint(p.issuedAt, 10))
		line("proof_generation", strconv.FormatUint(p.generation, 10))
		line("challenge", hex.EncodeToString(p.challenge))
		line("nonce", hex.EncodeToString(p.nonce[:]))
		line("nonce_id", hex.EncodeToString(id[:]))
		line("ranges", rangesString(b.ranges))
		line("digest", hex.EncodeToString(p.digest[:]))
		if sc.challengeMode {
			n := Nonce(p.nonce)
			commitment := n.Commitment()
			line("nonce_commitment", hex.EncodeToString(commitment[:]))
		}
	}
	if b.response != nil {
		line("response_purpose", b.responsePurpose)
		line("response_plaintext", hex.EncodeToString(b.responsePlain))
		line("response", hex.EncodeToString(b.response))
		if b.responseEntropy != nil {
			line("response_entropy", std(b.responseEntropy))
		}
	}
	if b.receipt != "" {
		c := &Claims{p: b.p}
		line("login_id", c.LoginID())
		result := "accept"
		if sc.receipt.refuse {
			result = "refuse"
		}
		line("receipt_result", result)
		line("receipt", b.receipt)
	}
	buf.WriteString("\n")
	buf.WriteString(b.proof)
	return buf.Bytes()
}

func TestGenerateVectors(t *testing.T) {
	if !*generateVectors {
		t.Skip("run with -generate to write " + vectorsDir)
	}
	// Deterministic keys, HPKE encapsulations and RSA-OAEP seeds, so that
	// regenerating with the same Go version rewrites the same files.
	cryptotest.SetGlobalRandom(t, 1)
	keys := vectorKeys{}
	for _, s := range Suites() {
		k, err := GenerateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		keys[s] = k
	}
	otherXWing, err := GenerateKey(SuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	entropy := vectorEntropy()

	scenarios := vectorScenarios(keys, otherXWing.Public(), entropy)
	names := map[string]bool{}
	var files []*built
	for _, sc := range scenarios {
		if names[sc.name] {
			t.Fatalf("duplicate scenario %s", sc.name)
		}
		names[sc.name] = true
		sc = sc.withDefaults()
		b := sc.build(t, keys, entropy)
		if got := b.check(); got != sc.expect {
			t.Errorf("%s: the verifier says %s, the scenario expects %s", sc.name, got, sc.expect)
		}
		if sc.expect == "ok" && b.p == nil {
			t.Errorf("%s: ok vector without payload values", sc.name)
		}
		files = append(files, b)
	}
	if t.Failed() {
		t.FailNow()
	}

	old, err := os.ReadDir(vectorsDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range old {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			if err := os.Remove(filepath.Join(vectorsDir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(vectorsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Proof bodies carry CR, LF and trailing white space on purpose: keep
	// git from rewriting them.
	if err := os.WriteFile(filepath.Join(vectorsDir, ".gitattributes"), []byte("* -text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range files {
		data := b.marshal(entropy)
		if len(data) >= 64<<10 {
			t.Fatalf("%s is %d bytes", b.sc.name, len(data))
		}
		if err := os.WriteFile(filepath.Join(vectorsDir, b.sc.name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d vectors to %s", len(files), vectorsDir)
}

func (sc scenario) withDefaults() scenario {
	if sc.suite == 0 {
		sc.suite = SuiteP256
	}
	if sc.role == "" {
		sc.role = vecRole
	}
	if sc.clientID == "" {
		sc.clientID = vecClientID
	}
	if sc.generation == 0 {
		sc.generation = vecGeneration
	}
	if sc.sampling == (Sampling{}) {
		sc.sampling = vecSampling
	}
	if sc.skew == 0 {
		sc.skew = vecSkew
	}
	return sc
}

// clientIDForResidue returns a client ID that makes the proof of the
// given suite, with default parameters, r bytes past a multiple of 3, so
// that its base64url text has a partial last group (padding, trailing bits).
func clientIDForResidue(s Suite, r int) string {
	base := len(rawHeader(0, 0, KeyID{}, vecRole, vecClientID)) + s.encLen() +
		minPayload(Version) + aeadOverhead
	id := vecClientID
	for (base+len(id)-len(vecClientID))%3 != r {
		id += "x"
	}
	return id
}

func xorAt(i int, v byte) func([]byte) []byte {
	return func(w []byte) []byte {
		if i < 0 {
			i += len(w)
		}
		w[i] ^= v
		return w
	}
}

func vectorScenarios(keys vectorKeys, other *PublicKey, entropy []byte) []scenario {
	hdrLen := len(rawHeader(0, 0, KeyID{}, vecRole, vecClientID))
	// RSA sealing with one part changed: the secret, the OAEP label or the
	// GCM nonce.
	rsaSeal := func(secretLen int, oaepLabel func(info []byte) []byte, gcmNonce []byte) func(pk *PublicKey, header, pt []byte) ([]byte, []byte) {
		return func(pk *PublicKey, header, pt []byte) ([]byte, []byte) {
			info := hpkeInfo(header)
			secret := make([]byte, secretLen)
			rand.Read(secret)
			enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.rsa, secret, oaepLabel(info))
			if err != nil {
				panic(err)
			}
			gcm, _, err := rsaContext(secret, info)
			if err != nil {
				panic(err)
			}
			return enc, gcm.Seal(nil, gcmNonce, pt, header)
		}
	}
	hpkeSeal := func(info func(header []byte) []byte, aad func(header []byte) []byte) func(pk *PublicKey, header, pt []byte) ([]byte, []byte) {
		return func(pk *PublicKey, header, pt []byte) ([]byte, []byte) {
			enc, ct, _, err := sealTo(pk, info(header), aad(header), pt)
			if err != nil {
				panic(err)
			}
			return enc, ct
		}
	}
	same := func(h []byte) []byte { return h }
	// A digest computed the documented way but over a changed transcript.
	digestOf := func(edit func(label, header, rest, sampled []byte) []byte) func([]byte, *payload, []byte) [DigestSize]byte {
		return func(header []byte, p *payload, e []byte) [DigestSize]byte {
			var rest []byte
			rest = binary.BigEndian.AppendUint64(rest, p.issuedAt)
			rest = binary.BigEndian.AppendUint64(rest, p.generation)
			rest = append(rest, p.nonce[:]...)
			rest = appendLP16(rest, p.challenge)
			rest = appendRanges(rest, p.ranges) // in the transcript, whatever the version
			return sha256.Sum256(edit(lp8(labelDigest), header, rest, sample(e, p.ranges)))
		}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	otherEntropy := vectorBytes("other-entropy", vecEntropyLen)
	biggerEntropy := append(append([]byte(nil), entropy...), vectorBytes("more-entropy", vecEntropyLen)...)
	name129 := strings.Repeat("r", MaxNameLen+1)
	name128r, name128c := strings.Repeat("r", MaxNameLen), "c"+strings.Repeat("0", MaxNameLen-1)
	padClient := clientIDForResidue(SuiteP256, 1)
	bitsClient := clientIDForResidue(SuiteP256, 2)

	// Login receipts (§9.2). The keyring's new current key is derived
	// from a fixed scalar, not generated, so that the vectors above keep
	// their random stream.
	nextKey, err := ParsePrivateKey(SuiteP256, vectorBytes("server-key/next", 32))
	if err != nil {
		panic(err)
	}
	published := func(k *PublicKey, current bool) PublishedKey {
		return PublishedKey{KeyID: k.ID().String(), Suite: k.Suite().String(), PublicKey: k.Bytes(), Current: current}
	}
	keyring := []PublishedKey{published(nextKey.Public(), true), published(keys[SuiteP256].Public(), false)}
	rotate := func(s Sampling) func(r *Receipt) {
		return func(r *Receipt) {
			r.Rotation = &Rotation{Generation: r.Generation + 1, Entropy: vectorBytes("entropy/next-generation", vecEntropyLen), SampleCount: s.Count, SampleLength: s.Length}
		}
	}
	otherNonce := Nonce(vectorNonce("other"))
	refuse := func(edit func(r *Receipt)) *receiptScenario { return &receiptScenario{edit: edit, refuse: true} }

	// Challenge mode (§13): challenges made with vecChallengeKey, their
	// random part derived from the nonce they are made for.
	expires := time.Unix(vecNow+vecChallengeTTL, 0)
	challengeWith := func(key []byte, role, clientID string, commitment func(*Nonce) [32]byte, expiresAt time.Time) func(*Nonce) []byte {
		return func(n *Nonce) []byte {
			var random [challengeRandomSize]byte
			copy(random[:], vectorBytes("challenge-random/"+hex.EncodeToString(n[:]), challengeRandomSize))
			return newChallenge(key, role, clientID, commitment(n), expiresAt, random)
		}
	}
	own := func(n *Nonce) [32]byte { return n.Commitment() }
	validChallenge := challengeWith(vecChallengeKey, vecRole, vecClientID, own, expires)
	editChallenge := func(base func(*Nonce) []byte, edit func(c []byte) []byte) func(*Nonce) []byte {
		return func(n *Nonce) []byte { return edit(base(n)) }
	}
	expiredChallenge := challengeWith(vecChallengeKey, vecRole, vecClientID, own, time.Unix(vecNow-1, 0))

	return []scenario{
		// Accepted proofs.
		{name: "ok_xwing", expect: "ok", suite: SuiteXWing, comment: "a valid proof, X-Wing suite"},
		{name: "ok_p256", expect: "ok", suite: SuiteP256, comment: "a valid proof, P-256 suite"},
		{name: "ok_rsa3072", expect: "ok", suite: SuiteRSA3072, comment: "a valid proof, RSA-3072 suite"},
		{name: "ok_skew_oldest", expect: "ok", issuedAt: ptr[uint64](vecNow - vecSkew), comment: "issued_at = now - skew: the oldest accepted"},
		{name: "ok_skew_newest", expect: "ok", issuedAt: ptr[uint64](vecNow + 5), comment: "issued_at = now + 5 s: the newest accepted, min(skew, 5 s) ahead"},
		{name: "ok_max_names", expect: "ok", role: name128r, clientID: name128c, comment: "role and client_id of 128 bytes"},
		{name: "ok_single_range", expect: "ok", sampling: Sampling{Count: 1, Length: MinSampledBytes}, comment: "one range of 32 bytes, the least sampling allowed"},
		{name: "ok_whole_entropy", expect: "ok", sampling: Sampling{Count: MaxRangeCount, Length: vecEntropyLen / MaxRangeCount}, comment: "512 ranges of 8 bytes, the most ranges allowed: count * length = entropy size"},
		{name: "ok_long_ranges", expect: "ok", sampling: Sampling{Count: 1, Length: vecEntropyLen}, comment: "one range as long as the entropy: its offset is always 0"},
		{name: "ok_generation_7", expect: "ok", generation: 7, comment: "a client at entropy generation 7"},

		// Malformed text.
		{name: "malformed_empty", expect: "malformed", encode: func([]byte) string { return "" }, comment: "empty proof"},
		{name: "malformed_too_long", expect: "malformed", wire: func(w []byte) []byte { return append(w, make([]byte, 6147-len(w))...) }, comment: "8196 characters, over the 8192 limit (the bytes would otherwise reach the open step)"},
		{name: "malformed_padding", expect: "malformed", clientID: padClient, encode: base64.URLEncoding.EncodeToString, comment: "base64url with '=' padding"},
		{name: "malformed_trailing_bits", expect: "malformed", clientID: bitsClient, encode: func(w []byte) string {
			s := []byte(proofEncoding.EncodeToString(w))
			i := strings.IndexByte(base64URLAlphabet, s[len(s)-1])
			s[len(s)-1] = base64URLAlphabet[i|1]
			return string(s)
		}, comment: "the last character has a non-zero unused bit"},
		{name: "malformed_std_alphabet", expect: "malformed", encode: base64.RawStdEncoding.EncodeToString, comment: "standard base64 alphabet ('+' and '/') instead of base64url"},
		{name: "malformed_line_breaks_crlf", expect: "malformed", encode: func(w []byte) string { return wrapText(proofEncoding.EncodeToString(w), 64, "\r\n") }, comment: "canonical text broken into 64-character lines with CR LF"},
		{name: "malformed_line_break_lf", expect: "malformed", encode: func(w []byte) string { s := proofEncoding.EncodeToString(w); return s[:40] + "\n" + s[40:] }, comment: "one LF inside the text"},
		{name: "malformed_trailing_newline", expect: "malformed", encode: func(w []byte) string { return proofEncoding.EncodeToString(w) + "\n" }, comment: "a final LF after the proof"},
		{name: "malformed_space", expect: "malformed", encode: func(w []byte) string { s := proofEncoding.EncodeToString(w); return s[:40] + " " + s[40:] }, comment: "one space inside the text"},
		{name: "malformed_invalid_character", expect: "malformed", encode: func(w []byte) string { s := proofEncoding.EncodeToString(w); return s[:40] + "." + s[41:] }, comment: "a character outside the base64url alphabet"},

		// Malformed bytes before the payload.
		{name: "malformed_truncated_header", expect: "malformed", wire: func(w []byte) []byte { return w[:hdrLen-3] }, comment: "cut inside client_id"},
		{name: "malformed_truncated_enc", expect: "malformed", wire: func(w []byte) []byte { return w[:hdrLen+40] }, comment: "cut inside enc"},
		{name: "malformed_short_ct", expect: "malformed", wire: func(w []byte) []byte {
			return w[:hdrLen+SuiteP256.encLen()+minPayload(Version)+aeadOverhead-1]
		}, comment: "ct of 97 bytes, one under the least a version 2 payload seals to"},
		{name: "malformed_short_ct_v1", expect: "malformed", version: 1, wire: func(w []byte) []byte {
			return w[:hdrLen+SuiteP256.encLen()+minPayload(1)+aeadOverhead-1]
		}, comment: "version 1: ct of 107 bytes, one under the least a version 1 payload seals to"},
		{name: "malformed_truncated_version_only", expect: "malformed", wire: func(w []byte) []byte { return w[:1] }, comment: "a version byte and nothing else"},
		{name: "malformed_name_upper_case", expect: "malformed", hdrRole: ptr("Web"), comment: "header role with an upper-case letter (correctly sealed)"},
		{name: "malformed_name_empty", expect: "malformed", hdrClientID: ptr(""), comment: "empty client_id in the header (correctly sealed)"},
		{name: "malformed_name_too_long", expect: "malformed", hdrRole: ptr(name129), comment: "header role of 129 bytes (correctly sealed)"},
		{name: "malformed_name_leading_dash", expect: "malformed", hdrClientID: ptr("-client-1"), comment: "header client_id starting with '-' (correctly sealed)"},
		{name: "malformed_name_non_ascii", expect: "malformed", hdrClientID: ptr("cli\u00e9nt"), comment: "header client_id with a UTF-8 letter (correctly sealed)"},
		{name: "malformed_name_slash", expect: "malformed", hdrClientID: ptr("a/b"), comment: "header client_id with '/' (correctly sealed)"},

		// Malformed payloads, correctly sealed.
		{name: "malformed_payload_trailing_byte", expect: "malformed", plaintext: func(b []byte) []byte { return append(b, 0) }, comment: "one byte after the digest"},
		{name: "malformed_payload_truncated", expect: "malformed", plaintext: func(b []byte) []byte { return b[:len(b)-1] }, comment: "digest one byte short"},
		{name: "malformed_payload_count_0", expect: "malformed", version: 1, challenge: []byte("12345678"), ranges: func(p *payload) { p.ranges = nil }, comment: "version 1: range count 0; an 8-byte challenge makes the payload as long as the shortest valid one"},
		{name: "malformed_payload_count_0_short", expect: "malformed", version: 1, ranges: func(p *payload) { p.ranges = nil }, comment: "version 1: range count 0 and no challenge: ct is 8 bytes under the minimum, refused before opening"},
		{name: "malformed_payload_count_513", expect: "malformed", version: 1, ranges: func(p *payload) {
			for len(p.ranges) < MaxRangeCount+1 {
				p.ranges = append(p.ranges, p.ranges[0])
			}
		}, comment: "version 1: range count 513"},
		{name: "malformed_payload_count_too_large", expect: "malformed", version: 1, plaintext: func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[8+8+NonceSize+2:], 17)
			return b
		}, comment: "version 1: range count 17 with 16 ranges present"},
		{name: "malformed_payload_v2_with_ranges", expect: "malformed", plaintext: func(b []byte) []byte {
			// A version 2 header over a version 1 payload: the ranges are
			// bytes the version 2 layout does not have.
			at := len(b) - DigestSize
			out := appendRanges(append([]byte(nil), b[:at]...), make([]Range, vecSampling.Count))
			return append(out, b[at:]...)
		}, comment: "version 2 header, payload laid out as version 1 (u16(count) and 16 ranges before the digest)"},
		{name: "malformed_payload_challenge_257", expect: "malformed", challenge: bytes.Repeat([]byte{'c'}, MaxChallengeSize+1)[:MaxChallengeSize], plaintext: func(b []byte) []byte {
			// Re-encode with a 257-byte challenge: the client library will
			// not derive ranges for one.
			at := 8 + 8 + NonceSize
			out := append([]byte(nil), b[:at]...)
			out = appendLP16(out, bytes.Repeat([]byte{'c'}, MaxChallengeSize+1))
			return append(out, b[at+2+MaxChallengeSize:]...)
		}, comment: "challenge of 257 bytes"},
		{name: "malformed_payload_issued_at_2_63", expect: "malformed", issuedAt: ptr[uint64](1 << 63), comment: "issued_at = 2^63"},

		{name: "version_0", expect: "version", header: func(h []byte) []byte { h[0] = 0; return h }, comment: "version byte 0 (correctly sealed)"},
		{name: "version_3", expect: "version", header: func(h []byte) []byte { h[0] = 3; return h }, comment: "version byte 3 (correctly sealed)"},
		{name: "version_3_truncated", expect: "version", wire: func(w []byte) []byte { w[0] = 3; return w[:1] }, comment: "only a version byte, 3: the version is checked before the length"},
		{name: "suite_0", expect: "suite", header: func(h []byte) []byte { h[1] = 0; return h }, comment: "suite byte 0 (correctly sealed)"},
		{name: "suite_4", expect: "suite", header: func(h []byte) []byte { h[1] = 4; return h }, comment: "suite byte 4 (correctly sealed)"},

		{name: "unknown_key_other_key", expect: "unknown-key", suite: SuiteXWing, sealTo: other, comment: "sealed to another X-Wing key"},
		{name: "unknown_key_suite_mismatch", expect: "unknown-key", suite: SuiteXWing, header: func(h []byte) []byte { h[1] = byte(SuiteP256); return h }, comment: "the server key's ID under the P-256 suite byte; the body is X-Wing"},
		{name: "unknown_key_flipped_key_id", expect: "unknown-key", header: func(h []byte) []byte { h[2] ^= 1; return h }, comment: "one bit of key_id flipped (correctly sealed)"},

		{name: "open_xwing_flipped_ct", expect: "open", suite: SuiteXWing, wire: xorAt(-1, 1), comment: "last byte of the AEAD tag flipped"},
		{name: "open_xwing_flipped_enc", expect: "open", suite: SuiteXWing, wire: xorAt(hdrLen, 1), comment: "first byte of enc flipped"},
		{name: "open_p256_flipped_ct", expect: "open", wire: xorAt(-1, 0x80), comment: "last byte of the AEAD tag flipped"},
		{name: "open_p256_flipped_enc", expect: "open", wire: xorAt(hdrLen+20, 1), comment: "a byte of the ephemeral public key flipped"},
		{name: "open_header_not_bound", expect: "open", role: "wex", hdrRole: ptr(vecRole), wire: func(w []byte) []byte { w[2+KeyIDSize+1+2] = 'x'; return w }, comment: "header role changed from web to wex after sealing; the request says wex"},
		{name: "open_info_without_label", expect: "open", seal: hpkeSeal(same, same), comment: "HPKE info = header, without lp8(label)"},
		{name: "open_aad_empty", expect: "open", seal: hpkeSeal(hpkeInfo, func([]byte) []byte { return nil }), comment: "AEAD associated data empty instead of the header"},
		{name: "open_min_ct_garbage", expect: "open", wire: func(w []byte) []byte {
			n := hdrLen + SuiteP256.encLen()
			return append(w[:n], vectorBytes("garbage", minPayload(Version)+aeadOverhead)...)
		}, comment: "ct of exactly 98 bytes that is no ciphertext"},
		{name: "open_rsa_flipped_enc", expect: "open", suite: SuiteRSA3072, wire: xorAt(hdrLen+100, 1), comment: "a byte of the RSA-OAEP ciphertext flipped"},
		{name: "open_rsa_flipped_ct", expect: "open", suite: SuiteRSA3072, wire: xorAt(-1, 1), comment: "last byte of the AEAD tag flipped"},
		{name: "open_rsa_secret_31_bytes", expect: "open", suite: SuiteRSA3072, seal: rsaSeal(31, same, zeroNonce[:]), comment: "RSA-OAEP carries a 31-byte secret"},
		{name: "open_rsa_oaep_no_label", expect: "open", suite: SuiteRSA3072, seal: rsaSeal(32, func([]byte) []byte { return nil }, zeroNonce[:]), comment: "RSA-OAEP label empty instead of info"},
		{name: "open_rsa_gcm_nonce_not_zero", expect: "open", suite: SuiteRSA3072, seal: rsaSeal(32, same, append(make([]byte, 11), 1)), comment: "payload sealed with GCM nonce 0...01 instead of all zeros"},

		{name: "header_mismatch_role", expect: "header-mismatch", role: "db", hdrRole: ptr(vecRole), comment: "the request names role db, the proof web"},
		{name: "header_mismatch_client", expect: "header-mismatch", clientID: "client-2", hdrClientID: ptr(vecClientID), comment: "the request names client-2, the proof client-1"},

		{name: "too_old_by_one_second", expect: "too-old", issuedAt: ptr[uint64](vecNow - vecSkew - 1), comment: "issued_at = now - skew - 1"},
		{name: "too_old_epoch", expect: "too-old", issuedAt: ptr[uint64](0), comment: "issued_at = 0"},
		{name: "from_future_by_one_second", expect: "from-future", issuedAt: ptr[uint64](vecNow + 6), comment: "issued_at = now + 6 s: one second past min(skew, 5 s)"},
		{name: "from_future_far", expect: "from-future", issuedAt: ptr[uint64](1 << 62), comment: "issued_at = 2^62"},
		{name: "from_future_max", expect: "from-future", issuedAt: ptr[uint64](1<<63 - 1), comment: "issued_at = 2^63 - 1"},

		{name: "generation_older", expect: "generation", generation: 2, proofGen: ptr[uint64](1), comment: "proof from generation 1, the client is at 2"},
		{name: "generation_newer", expect: "generation", proofGen: ptr[uint64](2), comment: "proof from generation 2, the client is at 1"},

		{name: "challenge_unexpected", expect: "challenge", challenge: []byte("c"), comment: "a one-byte challenge (ranges and digest made with it) where none is expected"},

		{name: "sampling_invalid_server_parameters", expect: "sampling", sampling: Sampling{Count: 1, Length: 16}, clientSample: &vecSampling, comment: "the verifier's own sampling (1 x 16 bytes) is below the 32-byte minimum"},

		{name: "ranges_offset_plus_one", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges[3].Offset++ }, comment: "version 1: the fourth offset is one more than derived (digest over those bytes)"},
		{name: "ranges_length_minus_one", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges[0].Length-- }, comment: "version 1: the first range is one byte short"},
		{name: "ranges_swapped", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges[0], p.ranges[1] = p.ranges[1], p.ranges[0] }, comment: "version 1: the first two ranges in the wrong order"},
		{name: "ranges_extra", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges = append(p.ranges, p.ranges[0]) }, comment: "version 1: one range more than the sampling"},
		{name: "ranges_missing", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges = p.ranges[:len(p.ranges)-1] }, comment: "version 1: one range less than the sampling"},
		{name: "ranges_out_of_bounds", expect: "ranges", version: 1, ranges: func(p *payload) { p.ranges[0].Offset = uint32(vecEntropyLen - vecSampling.Length + 1) }, comment: "version 1: a range that ends past the entropy"},
		{name: "ranges_other_sampling", expect: "ranges", version: 1, clientSample: &Sampling{Count: 8, Length: 64}, comment: "version 1: derived with 8 x 64 bytes, the client's sampling is 16 x 32"},
		{name: "ranges_other_entropy_size", expect: "ranges", version: 1, clientEnt: biggerEntropy, comment: "version 1: derived for an entropy of 8192 bytes, the server holds 4096"},
		{name: "ranges_derived_with_challenge", expect: "ranges", version: 1, ranges: func(p *payload) {
			n := p.nonce
			p.ranges, _ = DeriveRanges(&n, vecEntropyLen, vecSampling, []byte("c"))
		}, comment: "version 1: ranges derived with challenge c; the payload's challenge is empty"},
		{name: "ok_version_1", expect: "ok", version: 1, comment: "a valid version 1 proof: its payload carries the ranges, equal to the derived ones"},

		// Version 2 carries no ranges: the same mistakes change only the
		// digest's transcript.
		{name: "digest_other_sampling", expect: "digest", clientSample: &Sampling{Count: 8, Length: 64}, comment: "ranges derived and hashed with 8 x 64 bytes, the client's sampling is 16 x 32"},
		{name: "digest_other_entropy_size", expect: "digest", clientEnt: biggerEntropy, comment: "ranges derived for an entropy of 8192 bytes, the server holds 4096"},
		{name: "digest_offset_plus_one", expect: "digest", ranges: func(p *payload) { p.ranges[3].Offset++ }, comment: "the fourth range hashed one byte further on than derived"},
		{name: "digest_ranges_derived_with_challenge", expect: "digest", ranges: func(p *payload) {
			n := p.nonce
			p.ranges, _ = DeriveRanges(&n, vecEntropyLen, vecSampling, []byte("c"))
		}, comment: "ranges derived with challenge c and hashed; the payload's challenge is empty"},

		{name: "digest_flipped", expect: "digest", editDigest: func(p *payload) { p.digest[0] ^= 1 }, comment: "one bit of the digest flipped"},
		{name: "digest_other_entropy", expect: "digest", clientEnt: otherEntropy, comment: "the client's entropy differs from the server's (same size)"},
		{name: "digest_without_label", expect: "digest", digest: digestOf(func(_, h, rest, s []byte) []byte { return cat(h, rest, s) }), comment: "digest computed without lp8(label)"},
		{name: "digest_without_header", expect: "digest", digest: digestOf(func(l, _, rest, s []byte) []byte { return cat(l, rest, s) }), comment: "digest computed without the header"},
		{name: "digest_without_sampled_bytes", expect: "digest", digest: digestOf(func(l, h, rest, _ []byte) []byte { return cat(l, h, rest) }), comment: "digest computed without the sampled bytes"},
		{name: "digest_generation_not_hashed", expect: "digest", digest: func(h []byte, p *payload, e []byte) [DigestSize]byte {
			q := *p
			q.generation = p.generation + 1
			return computeDigest(h, &q, q.ranges, e)
		}, comment: "digest computed with generation 2, the payload says 1"},

		// Login receipts (§9.2): accepted proofs whose response is the
		// sealed receipt, and receipts the client must refuse.
		{name: "ok_receipt", expect: "ok", receipt: &receiptScenario{}, comment: "a valid proof and its login receipt: no rotation, no server keys"},
		{name: "ok_receipt_xwing", expect: "ok", suite: SuiteXWing, receipt: &receiptScenario{}, comment: "a valid proof and its login receipt, X-Wing suite"},
		{name: "ok_receipt_rsa3072", expect: "ok", suite: SuiteRSA3072, receipt: &receiptScenario{}, comment: "a valid proof and its login receipt, RSA-3072 suite"},
		{name: "ok_receipt_rotation", expect: "ok", receipt: &receiptScenario{edit: rotate(vecSampling)}, comment: "the receipt hands out entropy generation 2"},
		{name: "ok_receipt_server_keys", expect: "ok", comment: "the proof is sealed to the previous server key, within its grace period: the receipt lists the keyring, the new current key first", receipt: &receiptScenario{edit: func(r *Receipt) { r.ServerKeys = keyring }}},
		{name: "ok_receipt_rotation_server_keys", expect: "ok", comment: "a client at generation 7, proof sealed to the previous key: the receipt hands out generation 8 with a sampling of 8 x 64 bytes, and the keyring", generation: 7, receipt: &receiptScenario{edit: func(r *Receipt) {
			rotate(Sampling{Count: 8, Length: 64})(r)
			r.ServerKeys = keyring
		}}},
		{name: "ok_receipt_refused_other_login_id", expect: "ok", comment: "the receipt names another login_id: the client refuses it and the token", receipt: refuse(func(r *Receipt) { r.LoginID = loginID(nonceID((*[NonceSize]byte)(&otherNonce))) })},
		{name: "ok_receipt_refused_other_client", expect: "ok", receipt: refuse(func(r *Receipt) { r.ClientID = "client-2" }), comment: "the receipt names client-2: the client refuses it"},
		{name: "ok_receipt_refused_other_generation", expect: "ok", receipt: refuse(func(r *Receipt) { r.Generation = 2 }), comment: "the receipt names generation 2, the proof 1: the client refuses it"},
		{name: "ok_receipt_refused_version_1", expect: "ok", receipt: refuse(func(r *Receipt) { r.Version = 1 }), comment: "receipt_version 1, the layout of receipts keyed by the exporter alone: the client refuses it"},
		{name: "ok_receipt_refused_other_entropy", expect: "ok", receipt: &receiptScenario{refuse: true, entropy: vectorBytes("other-entropy", vecEntropyLen)}, comment: "sealed under the proof's exporter but keyed by another entropy: what the holder of the private key the proof was sealed to (a fake server that served its own key, or a thief of the server's key) can make without the client's entropy; the client refuses it"},
		{name: "ok_receipt_refused_other_purpose", expect: "ok", comment: "a valid receipt sealed under purpose confirm instead of login: it does not open as a receipt", receipt: &receiptScenario{purpose: vecPurpose, refuse: true}},
		{name: "ok_receipt_refused_rotation_not_newer", expect: "ok", comment: "the receipt hands out generation 1, the one proven: the client refuses it", receipt: refuse(func(r *Receipt) {
			rotate(vecSampling)(r)
			r.Rotation.Generation = r.Generation
		})},
		{name: "ok_receipt_version_1_proof_version_absent", expect: "ok", version: 1, receipt: &receiptScenario{edit: func(r *Receipt) { r.ProofVersion = 0 }}, comment: "a version 1 proof and a receipt without proof_version, as a server that reads version 1 only sends: the client accepts it and keeps building version 1"},
		{name: "ok_receipt_version_1_proof_version_2", expect: "ok", version: 1, receipt: &receiptScenario{}, comment: "a version 1 proof and a receipt that says proof_version 2: the client accepts it and builds version 2 from its next login on"},
		{name: "ok_receipt_refused_proof_version_absent", expect: "ok", receipt: refuse(func(r *Receipt) { r.ProofVersion = 0 }), comment: "a version 2 proof and a receipt without proof_version (which means 1): the server that read it reads version 2, so the client refuses it"},
		{name: "ok_receipt_refused_proof_version_negative", expect: "ok", version: 1, receipt: refuse(func(r *Receipt) { r.ProofVersion = -1 }), comment: "proof_version -1: the client refuses it"},
		{name: "ok_receipt_refused_server_key_id", expect: "ok", comment: "a server key listed under a key_id that is not its own: the client refuses the receipt", receipt: refuse(func(r *Receipt) {
			r.ServerKeys = append([]PublishedKey(nil), keyring...)
			r.ServerKeys[0].KeyID = "0000000000000000"
		})},

		// Challenge mode (§13).
		{name: "ok_challenge", expect: "ok", comment: "challenge mode, required by the role: a challenge made for this nonce, expiring at now + 60 s; the receipt says challenge_required", challengeMode: true, challengeRequired: true, challengeFor: validChallenge, receipt: &receiptScenario{}},
		{name: "ok_challenge_expires_now", expect: "ok", comment: "a challenge whose expires_at is now: still valid", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vecChallengeKey, vecRole, vecClientID, own, time.Unix(vecNow, 0)), receipt: &receiptScenario{}},
		{name: "ok_challenge_not_required", expect: "ok", comment: "a valid challenge in a role that does not require challenge mode: checked and accepted", challengeMode: true, challengeFor: validChallenge, receipt: &receiptScenario{}},
		{name: "challenge_other_commitment", expect: "challenge", comment: "a valid challenge made for the commitment of another nonce", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vecChallengeKey, vecRole, vecClientID, func(*Nonce) [32]byte { return otherNonce.Commitment() }, expires)},
		{name: "challenge_commitment_without_label", expect: "challenge", comment: "a challenge made for the commitment SHA-256(nonce), without lp8(label)", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vecChallengeKey, vecRole, vecClientID, func(n *Nonce) [32]byte { return sha256.Sum256(n[:]) }, expires)},
		{name: "challenge_other_client", expect: "challenge", comment: "a challenge made for client-2, for this nonce", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vecChallengeKey, vecRole, "client-2", own, expires)},
		{name: "challenge_other_role", expect: "challenge", comment: "a challenge made for role db, for this nonce", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vecChallengeKey, "db", vecClientID, own, expires)},
		{name: "challenge_other_key", expect: "challenge", comment: "a challenge made with another challenge key", challengeMode: true, challengeRequired: true,
			challengeFor: challengeWith(vectorBytes("other-challenge-key", ChallengeKeySize), vecRole, vecClientID, own, expires)},
		{name: "challenge_forged_mac", expect: "challenge", comment: "the last bit of the challenge's MAC flipped (ranges and digest made with the altered challenge)", challengeMode: true, challengeRequired: true,
			challengeFor: editChallenge(validChallenge, func(c []byte) []byte { c[len(c)-1] ^= 1; return c })},
		{name: "challenge_expiry_altered", expect: "challenge", comment: "expires_at moved one minute later without a new MAC", challengeMode: true, challengeRequired: true,
			challengeFor: editChallenge(validChallenge, func(c []byte) []byte { c[7] += 60; return c })},
		{name: "challenge_truncated", expect: "challenge", comment: "a challenge of 55 bytes, its MAC one byte short", challengeMode: true, challengeRequired: true,
			challengeFor: editChallenge(validChallenge, func(c []byte) []byte { return c[:ChallengeSize-1] })},
		{name: "challenge_expired_and_forged", expect: "challenge", comment: "an expired challenge with a wrong MAC: the MAC is checked first", challengeMode: true, challengeRequired: true,
			challengeFor: editChallenge(expiredChallenge, func(c []byte) []byte { c[len(c)-1] ^= 1; return c })},
		{name: "challenge_stale_expired", expect: "challenge-stale", comment: "a valid challenge whose expires_at is one second before now", challengeMode: true, challengeRequired: true, challengeFor: expiredChallenge},
		{name: "ranges_challenge_not_derived", expect: "ranges", version: 1, comment: "version 1: a valid challenge, but the ranges are derived without it", challengeMode: true, challengeRequired: true, challengeFor: validChallenge,
			ranges: func(p *payload) {
				n := p.nonce
				p.ranges, _ = DeriveRanges(&n, vecEntropyLen, vecSampling, nil)
			}},
		{name: "digest_challenge_not_derived", expect: "digest", comment: "a valid challenge, but the ranges hashed are derived without it", challengeMode: true, challengeRequired: true, challengeFor: validChallenge,
			ranges: func(p *payload) {
				n := p.nonce
				p.ranges, _ = DeriveRanges(&n, vecEntropyLen, vecSampling, nil)
			}},
		{name: "digest_challenge_not_hashed", expect: "digest", comment: "a valid challenge and ranges, but the digest is computed with an empty challenge", challengeMode: true, challengeRequired: true, challengeFor: validChallenge,
			digest: func(h []byte, p *payload, e []byte) [DigestSize]byte {
				q := *p
				q.challenge = nil
				return computeDigest(h, &q, q.ranges, e)
			}},
		{name: "challenge_required_missing", expect: "challenge-required", comment: "a valid proof without a challenge, in a role that requires challenge mode", challengeMode: true, challengeRequired: true},
		{name: "digest_challenge_required", expect: "digest", comment: "a wrong digest and no challenge in a role that requires one: the proof is refused as a wrong proof, not named as missing its challenge", challengeMode: true, challengeRequired: true, editDigest: func(p *payload) { p.digest[0] ^= 1 }},

		// The future side of the time check (§8.1 step 10): at most
		// min(skew, 5 s) ahead.
		{name: "from_future_within_skew", expect: "from-future", issuedAt: ptr[uint64](vecNow + vecSkew), comment: "issued_at = now + skew (60 s): within the skew, but more than 5 s ahead"},
		{name: "ok_small_skew_newest", expect: "ok", skew: 3, issuedAt: ptr[uint64](vecNow + 3), comment: "a skew of 3 s, issued_at = now + 3 s: the newest accepted, min(skew, 5 s) ahead"},
		{name: "from_future_small_skew", expect: "from-future", skew: 3, issuedAt: ptr[uint64](vecNow + 4), comment: "a skew of 3 s, issued_at = now + 4 s"},

		// Stale proofs of the superseded generation (§8.1 step 12, §14.3).
		{name: "stale_before_superseded_at", expect: "stale", generation: 2, supersededAt: ptr[uint64](vecNow - 2), proofGen: ptr[uint64](1), comment: "a proof of the superseded generation 1 issued 3 s before the first proof of generation 2"},
		{name: "stale_at_superseded_at", expect: "stale", generation: 2, supersededAt: ptr[uint64](vecIssuedAt), proofGen: ptr[uint64](1), comment: "a proof of the superseded generation 1 issued in the same second as the first proof of generation 2: stale, the bound is inclusive"},
		{name: "stale_wrong_digest", expect: "stale", generation: 2, supersededAt: ptr[uint64](vecNow), proofGen: ptr[uint64](1), editDigest: func(p *payload) { p.digest[0] ^= 1 }, comment: "a stale proof with a wrong digest: stale, as the entropy is never read"},
		{name: "generation_older_than_superseded", expect: "generation", generation: 3, supersededAt: ptr[uint64](vecNow), proofGen: ptr[uint64](1), comment: "a proof of generation 1; the client is at 3, its superseded generation is 2"},
		{name: "ok_current_with_superseded", expect: "ok", generation: 2, supersededAt: ptr[uint64](vecNow), comment: "a proof of the current generation 2, issued before the first proof of generation 2 was (the client's clock went back): accepted"},

		// A verifier that keeps a replay watermark (§8.3 step 17).
		{name: "predates_window_at_watermark", expect: "predates-window", watermark: ptr[uint64](vecIssuedAt), comment: "issued_at = the watermark the verifier started with"},
		{name: "predates_window_before_watermark", expect: "predates-window", watermark: ptr[uint64](vecNow + 7), comment: "issued_at = now - 5 s, the watermark now + 7 s (the most after a start: a 2 s step past a proof 5 s ahead)"},
		{name: "ok_after_watermark", expect: "ok", watermark: ptr[uint64](vecIssuedAt - 1), comment: "issued_at one second after the watermark"},
		{name: "digest_before_predates_window", expect: "digest", watermark: ptr[uint64](vecNow), editDigest: func(p *payload) { p.digest[0] ^= 1 }, comment: "a wrong digest, issued before the watermark: the named refusal comes only after the proof has verified"},
		{name: "challenge_required_before_predates_window", expect: "challenge-required", challengeMode: true, challengeRequired: true, watermark: ptr[uint64](vecNow), comment: "a valid proof without a challenge in a role that requires one, issued before the watermark: step 16 before step 17"},

		// More receipts a client must refuse, and the largest generation.
		{name: "ok_receipt_refused_challenge_required", expect: "ok", receipt: refuse(func(r *Receipt) { r.ChallengeRequired = true }), comment: "the receipt says challenge_required for a proof without a challenge, which the server refuses (step 16): the client refuses it"},
		{name: "ok_receipt_refused_current_key_not_first", expect: "ok", comment: "server_keys lists the current key second: the client refuses the receipt", receipt: refuse(func(r *Receipt) {
			r.ServerKeys = []PublishedKey{keyring[1], keyring[0]}
		})},
		{name: "ok_receipt_refused_two_current_keys", expect: "ok", comment: "server_keys marks both keys current: the client refuses the receipt", receipt: refuse(func(r *Receipt) {
			r.ServerKeys = append([]PublishedKey(nil), keyring...)
			r.ServerKeys[1].Current = true
		})},
		{name: "ok_receipt_refused_key_listed_twice", expect: "ok", comment: "server_keys lists the proof's key twice: the client refuses the receipt", receipt: refuse(func(r *Receipt) {
			r.ServerKeys = append(append([]PublishedKey(nil), keyring...), keyring[1])
		})},
		{name: "ok_receipt_refused_entropy_not_canonical", expect: "ok", comment: "the rotation's entropy with a non-zero unused bit in the character before its padding: the client refuses the receipt", receipt: &receiptScenario{refuse: true, edit: rotate(vecSampling), text: func(j string) string {
			// The character before "==" carries 4 unused bits: set the lowest.
			i := strings.Index(j, `==","sample_count"`) - 1
			c := strings.IndexByte(base64StdAlphabet, j[i])
			return j[:i] + string(base64StdAlphabet[c|1]) + j[i+1:]
		}}},
		{name: "ok_receipt_refused_entropy_line_break", expect: "ok", comment: "the rotation's entropy with an escaped LF after its first 76 characters: the client refuses the receipt", receipt: &receiptScenario{refuse: true, edit: rotate(vecSampling), text: func(j string) string {
			i := strings.Index(j, `"entropy":"`) + len(`"entropy":"`) + 76
			return j[:i] + `\n` + j[i:]
		}}},
		{name: "ok_receipt_rotation_max_generation", expect: "ok", generation: MaxGeneration - 1, receipt: &receiptScenario{edit: rotate(vecSampling)}, comment: "a client at generation 2^53 - 2: the receipt hands out 2^53 - 1, the largest generation"},
		{name: "ok_receipt_refused_generation_2_53", expect: "ok", generation: MaxGeneration, receipt: refuse(rotate(vecSampling)), comment: "a client at generation 2^53 - 1: a rotation to 2^53, above the largest generation, is refused"},
	}
}

const base64StdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func wrapText(s string, n int, sep string) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteString(sep)
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}
