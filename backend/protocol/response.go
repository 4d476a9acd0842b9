package protocol

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrResponse is returned when a sealed response does not open: it was not
// made by the server that opened this client's proof, or it was altered.
var ErrResponse = errors.New("sealed response does not open under this login's context")

const responseNonceSize = 12

// Sealed responses carry data from the server back to the one client whose
// proof it opened, inside the login response. Each purpose has its own key,
// bound to two secrets at once:
//
//	context      = labelResponse || purpose
//	exporter_key = Export(context, 32)
//	entropy_key  = SHA-256(lp8(labelEntropyKey) || entropy)
//	key          = HMAC-SHA256(key=entropy_key, lp8(labelResponseKey) || exporter_key)
//	sealed       = n || AES-256-GCM(key, n, plaintext, aad = lp8(context))
//
// where n is 12 bytes from crypto/rand, Export is the exporter of the
// proof's sealing context and entropy is the whole entropy of the
// generation the proof was made from. The exporter key is known to the
// client and to whoever holds the private key the proof was sealed to; the
// entropy key to the client and to the server that enrolled it. Only a
// party holding both can seal: not a fake server that handed the client
// its own public key, not a thief of the server's private key alone, and
// not a thief of part of the entropy (the key hashes all of it).

// EntropyKeySize is the length of an entropy key.
const EntropyKeySize = sha256.Size

// EntropyKey is a generation's entropy key (§9.1). A server seals every
// receipt of a generation with the same one, so it may derive it once per
// generation (NewEntropyKey) rather than hash the whole entropy at every
// login; it is as secret as the entropy itself.
type EntropyKey [EntropyKeySize]byte

// NewEntropyKey derives the entropy key of a generation's whole entropy.
// It panics on empty entropy, which no generation has.
func NewEntropyKey(entropy []byte) *EntropyKey {
	if len(entropy) == 0 {
		panic("protocol: entropy key of empty entropy")
	}
	k := EntropyKey(entropyKey(entropy))
	return &k
}

// entropyKey is the entropy key of §9.1: SHA-256(lp8(labelEntropyKey) || entropy).
func entropyKey(entropy []byte) [EntropyKeySize]byte {
	h := sha256.New()
	h.Write(lp8(labelEntropyKey))
	h.Write(entropy)
	var k [EntropyKeySize]byte
	h.Sum(k[:0])
	return k
}

// SealResponse seals plaintext for the client that built this proof.
// entropy is the whole entropy of the generation the proof was verified
// against.
func (c *Claims) SealResponse(purpose string, plaintext, entropy []byte) ([]byte, error) {
	if len(entropy) == 0 {
		return nil, errors.New("sealing a response needs the proven generation's entropy")
	}
	return c.SealResponseKeyed(purpose, plaintext, NewEntropyKey(entropy))
}

// SealResponseKeyed is SealResponse with the proven generation's entropy
// key instead of its entropy.
func (c *Claims) SealResponseKeyed(purpose string, plaintext []byte, ek *EntropyKey) ([]byte, error) {
	gcm, aad, err := responseAEAD(c.exp, purpose, (*[EntropyKeySize]byte)(ek))
	if err != nil {
		return nil, err
	}
	n := make([]byte, responseNonceSize, responseNonceSize+len(plaintext)+aeadOverhead)
	if _, err := rand.Read(n); err != nil {
		return nil, err
	}
	return gcm.Seal(n, n, plaintext, aad), nil
}

// OpenResponse opens data the server sealed for this login.
func (s *ClientSession) OpenResponse(purpose string, sealed []byte) ([]byte, error) {
	gcm, aad, err := responseAEAD(s.exp, purpose, &s.entropyKey)
	if err != nil {
		return nil, err
	}
	if len(sealed) < responseNonceSize+aeadOverhead {
		return nil, ErrResponse
	}
	pt, err := gcm.Open(nil, sealed[:responseNonceSize], sealed[responseNonceSize:], aad)
	if err != nil {
		return nil, ErrResponse
	}
	return pt, nil
}

func responseAEAD(exp exporter, purpose string, ek *[EntropyKeySize]byte) (cipher.AEAD, []byte, error) {
	if err := ValidName(purpose); err != nil {
		return nil, nil, fmt.Errorf("response purpose %w", err)
	}
	context := labelResponse + purpose
	exporterKey, err := exp(context, 32)
	if err != nil {
		return nil, nil, err
	}
	m := hmac.New(sha256.New, ek[:])
	m.Write(lp8(labelResponseKey))
	m.Write(exporterKey)
	gcm, err := newAES256GCM(m.Sum(nil))
	if err != nil {
		return nil, nil, err
	}
	return gcm, lp8(context), nil
}
