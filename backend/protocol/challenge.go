package protocol

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Challenge mode takes the choice of sampled ranges away from the client.
// Without it, a client picks its nonce and so its ranges: a thief holding
// part of the entropy can try nonces offline until every range falls in
// the part it holds. In challenge mode the client first commits to its
// nonce, then asks the server for a challenge over that commitment, and the
// ranges are derived from the nonce and the challenge together. The nonce is
// fixed before the server's random bytes are known, so each try at lucky
// ranges costs the thief a request to the server.
//
// A challenge is stateless: the server keeps nothing, it only MACs what it
// hands out.
//
//	challenge  = u64(expires_at) || random(16) || mac
//	mac        = HMAC-SHA256(challenge_key, lp8(labelChallenge) || u64(expires_at) ||
//	                         random || lp8(role) || lp8(client_id) || commitment)
//	commitment = SHA-256(lp8(labelCommitment) || nonce)

const (
	// ChallengeSize is the length of a challenge.
	ChallengeSize = 8 + challengeRandomSize + sha256.Size
	// ChallengeKeySize is the length of the server's challenge MAC key.
	ChallengeKeySize = 32

	challengeRandomSize = 16
)

// Nonce is the single-use random value of one proof.
type Nonce [NonceSize]byte

// NewNonce returns a nonce from crypto/rand.
func NewNonce() (*Nonce, error) {
	var n Nonce
	if _, err := rand.Read(n[:]); err != nil {
		return nil, err
	}
	return &n, nil
}

// Commitment is what a client sends for a challenge: it fixes the nonce
// without revealing it.
func (n *Nonce) Commitment() [sha256.Size]byte {
	return sha256.Sum256(append(lp8(labelCommitment), n[:]...))
}

// NewChallenge makes a challenge for one login of a client whose nonce has
// the given commitment, valid until expiresAt.
func NewChallenge(key []byte, role, clientID string, commitment [sha256.Size]byte, expiresAt time.Time) ([]byte, error) {
	var random [challengeRandomSize]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, err
	}
	return newChallenge(key, role, clientID, commitment, expiresAt, random), nil
}

// newChallenge is NewChallenge with given random bytes, for test vectors.
func newChallenge(key []byte, role, clientID string, commitment [sha256.Size]byte, expiresAt time.Time, random [challengeRandomSize]byte) []byte {
	c := binary.BigEndian.AppendUint64(make([]byte, 0, ChallengeSize), uint64(expiresAt.Unix()))
	c = append(c, random[:]...)
	return append(c, challengeMAC(key, c, role, clientID, commitment)...)
}

func challengeMAC(key, expiresAndRandom []byte, role, clientID string, commitment [sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(lp8(labelChallenge))
	m.Write(expiresAndRandom)
	m.Write(lp8(role))
	m.Write(lp8(clientID))
	m.Write(commitment[:])
	return m.Sum(nil)
}

// CheckChallenge checks that the proof's challenge was made by the holder
// of key for this client and this proof's nonce (ErrChallenge), and that it
// has not expired at now (ErrChallengeStale). It does not check the ranges:
// Verify does, with Challenge().
func (c *Claims) CheckChallenge(key []byte, now time.Time) error {
	ch := c.p.challenge
	if len(ch) != ChallengeSize {
		return ErrChallenge
	}
	body, mac := ch[:ChallengeSize-sha256.Size], ch[ChallengeSize-sha256.Size:]
	n := Nonce(c.p.nonce)
	want := challengeMAC(key, body, c.Header.Role, c.Header.ClientID, n.Commitment())
	if !hmac.Equal(mac, want) {
		return ErrChallenge
	}
	if binary.BigEndian.Uint64(body) < uint64(max(now.Unix(), 0)) {
		return ErrChallengeStale
	}
	return nil
}

// Challenge is the challenge the proof carries; empty without challenge
// mode.
func (c *Claims) Challenge() []byte { return c.p.challenge }

// challengeEncoding is how challenges and nonce commitments travel:
// unpadded base64url, strict, so that each value has one spelling.
var challengeEncoding = base64.RawURLEncoding.Strict()

// EncodeCommitment is a commitment as the challenge endpoint takes it.
func EncodeCommitment(c [sha256.Size]byte) string { return challengeEncoding.EncodeToString(c[:]) }

// ParseCommitment decodes a commitment (ErrMalformed otherwise). The
// length is checked on the text first because the decoder skips CR and LF:
// only the 43 characters that decode to 32 bytes are accepted.
func ParseCommitment(s string) ([sha256.Size]byte, error) {
	var c [sha256.Size]byte
	if len(s) != challengeEncoding.EncodedLen(sha256.Size) {
		return c, ErrMalformed
	}
	raw, err := challengeEncoding.DecodeString(s)
	if err != nil || len(raw) != sha256.Size {
		return c, ErrMalformed
	}
	copy(c[:], raw)
	return c, nil
}

// EncodeChallenge is a challenge as the challenge endpoint answers it.
func EncodeChallenge(ch []byte) string { return challengeEncoding.EncodeToString(ch) }

// ParseChallenge decodes a challenge the endpoint answered (ErrMalformed
// unless it is ChallengeSize bytes, one spelling).
func ParseChallenge(s string) ([]byte, error) {
	if len(s) != challengeEncoding.EncodedLen(ChallengeSize) {
		return nil, ErrMalformed
	}
	ch, err := challengeEncoding.DecodeString(s)
	if err != nil || len(ch) != ChallengeSize {
		return nil, ErrMalformed
	}
	return ch, nil
}
