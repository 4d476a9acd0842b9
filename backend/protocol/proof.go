package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
)

const (
	// NonceSize is the length of a proof nonce: 256 bits from crypto/rand.
	NonceSize = 32
	// MaxProofLength bounds the encoded proof; longer input is refused
	// before it is decoded.
	MaxProofLength = 8192

	aeadOverhead = 16
)

// minPayload is the shortest payload of a version: no challenge and, in
// version 1, one range.
func minPayload(version uint8) int {
	const base = 8 + 8 + NonceSize + 2 + DigestSize
	if version == 1 {
		return base + 2 + 8
	}
	return base
}

// payload is the sealed part of a proof.
type payload struct {
	version    uint8 // the header's: it decides whether the ranges are on the wire
	issuedAt   uint64
	generation uint64
	nonce      [NonceSize]byte
	challenge  []byte
	// ranges: in version 1, the ranges the payload carries. A version 2
	// payload carries none; a builder still sets the derived ranges here,
	// as its digest is made over them.
	ranges []Range
	digest [DigestSize]byte
}

// marshal encodes u64(issued_at) || u64(generation) || nonce ||
// lp16(challenge) || digest, and in version 1 u16(count) || ranges before
// the digest.
func (p *payload) marshal() []byte {
	b := make([]byte, 0, minPayload(p.version)+len(p.challenge)+8*len(p.ranges))
	b = binary.BigEndian.AppendUint64(b, p.issuedAt)
	b = binary.BigEndian.AppendUint64(b, p.generation)
	b = append(b, p.nonce[:]...)
	b = appendLP16(b, p.challenge)
	if p.version == 1 {
		b = appendRanges(b, p.ranges)
	}
	return append(b, p.digest[:]...)
}

func parsePayload(b []byte, version uint8) (*payload, error) {
	r := &reader{b: b}
	p := &payload{version: version, issuedAt: r.u64(), generation: r.u64()}
	copy(p.nonce[:], r.take(NonceSize))
	p.challenge = r.lp16()
	if r.failed || len(p.challenge) > MaxChallengeSize {
		return nil, ErrMalformed
	}
	if version == 1 {
		count := int(r.u16())
		if r.failed || count < 1 || count > MaxRangeCount {
			return nil, ErrMalformed
		}
		p.ranges = make([]Range, count)
		for i := range p.ranges {
			p.ranges[i] = Range{Offset: r.u32(), Length: r.u32()}
		}
	}
	copy(p.digest[:], r.take(DigestSize))
	if r.failed || len(r.b) != 0 || p.issuedAt > math.MaxInt64 {
		return nil, ErrMalformed
	}
	return p, nil
}

// ProofInput is what a client needs to build one proof.
type ProofInput struct {
	ServerKey  *PublicKey
	Role       string
	ClientID   string
	Generation uint64
	Entropy    []byte
	Sampling   Sampling
	IssuedAt   time.Time
	// Challenge is empty unless the client uses challenge mode; then Nonce
	// is the nonce whose commitment the challenge was made for.
	Challenge []byte
	// Nonce is nil for a fresh nonce from crypto/rand.
	Nonce *Nonce
	// Version is the protocol version to build: 0 for Version, or an
	// older one for a server that reads no newer (the proof_version its
	// receipts and bundles carry, docs/protocol.md §7).
	Version uint8
}

// ClientSession is what a client keeps of one proof to read the sealed
// parts of the login response.
type ClientSession struct {
	exp        exporter
	role       string
	clientID   string
	generation uint64
	version    uint8 // the proof's protocol version
	loginID    string
	// challenged: the proof carried a challenge (a receipt may then say
	// that the role requires challenge mode, §9.2).
	challenged bool
	// entropyKey binds the server's sealed responses to the entropy this
	// proof was made from (§9.1).
	entropyKey [EntropyKeySize]byte
}

// NewProof builds a proof for one login: a fresh nonce from crypto/rand, the
// ranges derived from it, the digest of the transcript, all sealed to the
// server key. It returns the canonical encoded proof.
func NewProof(in ProofInput) (string, *ClientSession, error) {
	if in.Nonce != nil {
		return newProof(in, *in.Nonce)
	}
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", nil, err
	}
	return newProof(in, nonce)
}

// newProof is NewProof with a given nonce, for test vectors.
func newProof(in ProofInput, nonce [NonceSize]byte) (string, *ClientSession, error) {
	if in.ServerKey == nil {
		return "", nil, errors.New("no server key")
	}
	if in.IssuedAt.Unix() < 0 {
		return "", nil, errors.New("issued_at before 1970")
	}
	if in.Generation == 0 || in.Generation > MaxGeneration {
		return "", nil, fmt.Errorf("entropy generation %d is not between 1 and %d", in.Generation, uint64(MaxGeneration))
	}
	version := in.Version
	if version == 0 {
		version = Version
	}
	if version < MinVersion || version > Version {
		return "", nil, fmt.Errorf("protocol version %d is not between %d and %d", version, MinVersion, Version)
	}
	h := Header{Version: version, Suite: in.ServerKey.suite, KeyID: in.ServerKey.id, Role: in.Role, ClientID: in.ClientID}
	header, err := h.marshal()
	if err != nil {
		return "", nil, err
	}
	ranges, err := DeriveRanges(&nonce, len(in.Entropy), in.Sampling, in.Challenge)
	if err != nil {
		return "", nil, err
	}
	p := &payload{
		version:    version,
		issuedAt:   uint64(in.IssuedAt.Unix()),
		generation: in.Generation,
		nonce:      nonce,
		challenge:  in.Challenge,
		ranges:     ranges,
	}
	p.digest = computeDigest(header, p, ranges, in.Entropy)
	enc, ct, exp, err := sealTo(in.ServerKey, hpkeInfo(header), header, p.marshal())
	if err != nil {
		return "", nil, err
	}
	wire := append(append(header, enc...), ct...)
	session := &ClientSession{
		exp:        exp,
		role:       in.Role,
		clientID:   in.ClientID,
		generation: in.Generation,
		version:    version,
		loginID:    loginID(nonceID(&nonce)),
		challenged: len(in.Challenge) > 0,
		entropyKey: entropyKey(in.Entropy),
	}
	return proofEncoding.EncodeToString(wire), session, nil
}

// hpkeInfo is lp8(labelHPKEInfo) || header.
func hpkeInfo(header []byte) []byte { return append(lp8(labelHPKEInfo), header...) }

// Envelope is a decoded proof whose header has been checked but whose
// payload is still sealed.
type Envelope struct {
	Header Header
	header []byte
	enc    []byte
	ct     []byte
}

// ParseProof decodes a proof and checks, in order: length and encoding
// (ErrMalformed), version (ErrVersion), suite (ErrSuite), header names and
// body length (ErrMalformed). It does no cryptography.
func ParseProof(s string) (*Envelope, error) {
	if len(s) == 0 || len(s) > MaxProofLength {
		return nil, ErrMalformed
	}
	wire, err := decodeCanonical(s)
	if err != nil {
		return nil, ErrMalformed
	}
	r := &reader{b: wire}
	h, err := parseHeader(r)
	if err != nil {
		return nil, err
	}
	headerLen := len(wire) - len(r.b)
	enc := r.take(h.Suite.encLen())
	if r.failed || len(r.b) < minPayload(h.Version)+aeadOverhead {
		return nil, ErrMalformed
	}
	return &Envelope{Header: h, header: wire[:headerLen:headerLen], enc: enc, ct: r.b}, nil
}

// Open decrypts the payload with the server key the header names; the
// caller looked sk up by Header.KeyID and must pass nil if it holds no such
// key (ErrUnknownKey). A payload that does not decrypt is ErrOpen; one that
// decrypts but is not well formed is ErrMalformed.
func (e *Envelope) Open(sk *PrivateKey) (*Claims, error) {
	if sk == nil || sk.public.id != e.Header.KeyID || sk.public.suite != e.Header.Suite {
		return nil, ErrUnknownKey
	}
	pt, exp, err := openWith(sk, e.enc, hpkeInfo(e.header), e.header, e.ct)
	if err != nil {
		return nil, err
	}
	p, err := parsePayload(pt, e.Header.Version)
	if err != nil {
		return nil, err
	}
	return &Claims{Header: e.Header, header: e.header, p: p, exp: exp}, nil
}

// Claims is an opened proof: what the client claims, not yet verified
// against the server's entropy.
type Claims struct {
	Header Header
	header []byte
	p      *payload
	exp    exporter
}

// IssuedAt is the time the client says it built the proof.
func (c *Claims) IssuedAt() time.Time { return time.Unix(int64(c.p.issuedAt), 0) }

// Generation is the entropy generation the proof is made from.
func (c *Claims) Generation() uint64 { return c.p.generation }

// NonceID identifies the nonce for single-use bookkeeping without storing
// the nonce itself: SHA-256(lp8(labelNonceID) || nonce).
func (c *Claims) NonceID() [sha256.Size]byte { return nonceID(&c.p.nonce) }

func nonceID(nonce *[NonceSize]byte) [sha256.Size]byte {
	return sha256.Sum256(append(lp8(labelNonceID), nonce[:]...))
}

// LoginID names this login in the token's metadata and in the sealed
// receipt: the first 16 bytes of NonceID, in hexadecimal. It is public; it
// lets an operator tie a token to the server log's record of its login.
func (c *Claims) LoginID() string { return loginID(c.NonceID()) }

func loginID(id [sha256.Size]byte) string { return hex.EncodeToString(id[:16]) }

// CheckHeader compares the header's names with the request's, byte for byte.
func (c *Claims) CheckHeader(role, clientID string) error { return c.Header.check(role, clientID) }

// CheckHeader is Claims.CheckHeader before the proof is opened: the header
// is in the clear, so a verifier can refuse a proof presented for another
// role or client before it spends a decryption on it.
func (e *Envelope) CheckHeader(role, clientID string) error { return e.Header.check(role, clientID) }

func (h *Header) check(role, clientID string) error {
	if h.Role != role || h.ClientID != clientID {
		return ErrHeaderMismatch
	}
	return nil
}

// MaxFutureSkew is how far ahead of the verifier's clock a proof may be
// issued, whatever the skew: check 10 of docs/protocol.md §8.1 accepts
// now - skew <= issued_at <= now + min(skew, MaxFutureSkew). A server that
// keeps a replay watermark (§8.3) raises it to the latest issued_at it
// accepts, so this bound is what keeps the refusal window after a start
// short.
const MaxFutureSkew = 5 * time.Second

// CheckTime refuses a proof issued more than skew before now, or more than
// min(skew, MaxFutureSkew) after it; both bounds are inclusive. It compares
// whole seconds without converting issued_at with time.Unix, which
// overflows near 2^63 and would report a far-future proof as too old. As
// issued_at is an integer, issued_at < now-skew is issued_at <
// ceil(now-skew), and issued_at > now+ahead is issued_at > floor(now+ahead).
func (c *Claims) CheckTime(now time.Time, skew time.Duration) error {
	issued := int64(c.p.issuedAt) // below 2^63: parsePayload checks it
	oldest, newest := now.Add(-skew), now.Add(min(skew, MaxFutureSkew))
	lo := oldest.Unix()
	if oldest.Nanosecond() != 0 {
		lo++
	}
	switch {
	case issued < lo:
		return ErrTooOld
	case issued > newest.Unix():
		return ErrFromFuture
	}
	return nil
}

// Verify checks the proof against the server's copy of the entropy, in
// order: in version 1, the ranges the payload carries are exactly those
// derived from the nonce and the proof's challenge with the required
// sampling (ErrRanges); and the digest over the derived ranges matches,
// compared in constant time (ErrDigest). A proof that carries a challenge
// must have passed CheckChallenge first: the challenge enters the
// derivation as the proof states it.
func (c *Claims) Verify(entropy []byte, s Sampling) error {
	want, err := DeriveRanges(&c.p.nonce, len(entropy), s, c.p.challenge)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSampling, err)
	}
	if c.p.version == 1 {
		if len(want) != len(c.p.ranges) {
			return ErrRanges
		}
		for i := range want {
			if want[i] != c.p.ranges[i] {
				return ErrRanges
			}
		}
	}
	d := computeDigest(c.header, c.p, want, entropy)
	if subtle.ConstantTimeCompare(d[:], c.p.digest[:]) != 1 {
		return ErrDigest
	}
	return nil
}
