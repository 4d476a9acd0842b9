package protocol

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrResponse is returned when a sealed response does not open: it was not
// made by the server that opened this client's proof, or it was altered.
var ErrResponse = errors.New("sealed response does not open under this login's context")

const responseNonceSize = 12

// Sealed responses carry data from the server back to the one client whose
// proof it opened, inside the login response. Each purpose has its own key:
//
//	key    = Export(labelResponse || purpose, 32)
//	sealed = n || AES-256-GCM(key, n, plaintext, aad = lp8(labelResponse || purpose))
//
// where n is 12 bytes from crypto/rand and Export is the exporter of the
// proof's sealing context. Only the holder of that context (the client that
// built the proof, and the server holding the private key) can derive key.

// SealResponse seals plaintext for the client that built this proof.
func (c *Claims) SealResponse(purpose string, plaintext []byte) ([]byte, error) {
	gcm, aad, err := responseAEAD(c.exp, purpose)
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
	gcm, aad, err := responseAEAD(s.exp, purpose)
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

func responseAEAD(exp exporter, purpose string) (cipher.AEAD, []byte, error) {
	if err := ValidName(purpose); err != nil {
		return nil, nil, fmt.Errorf("response purpose %w", err)
	}
	label := labelResponse + purpose
	key, err := exp(label, 32)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := newAES256GCM(key)
	if err != nil {
		return nil, nil, err
	}
	return gcm, lp8(label), nil
}
