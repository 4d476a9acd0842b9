package protocol

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
)

// exporter derives secrets from the key schedule of one sealed proof: the
// HPKE exporter for HPKE suites, its RSA-suite analogue otherwise. Both sides
// of one login hold the same exporter, and nobody else does.
type exporter func(context string, length int) ([]byte, error)

// sealTo encrypts plaintext to pk. info and aad are the HPKE info and the
// AEAD associated data. It returns enc (the encapsulated key), the
// ciphertext and the exporter of this context.
func sealTo(pk *PublicKey, info, aad, plaintext []byte) (enc, ct []byte, exp exporter, err error) {
	if pk.hpke != nil {
		enc, s, err := hpke.NewSender(pk.hpke, hpkeKDF, hpkeAEAD, info)
		if err != nil {
			return nil, nil, nil, err
		}
		ct, err := s.Seal(aad, plaintext)
		if err != nil {
			return nil, nil, nil, err
		}
		return enc, ct, s.Export, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, nil, err
	}
	// The OAEP label binds the header to the key transport, as HPKE's info does.
	enc, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.rsa, secret, info)
	if err != nil {
		return nil, nil, nil, err
	}
	gcm, exp, err := rsaContext(secret, info)
	if err != nil {
		return nil, nil, nil, err
	}
	return enc, gcm.Seal(nil, zeroNonce[:], plaintext, aad), exp, nil
}

// openWith decrypts a proof body sealed to sk. Every failure is ErrOpen.
func openWith(sk *PrivateKey, enc, info, aad, ct []byte) ([]byte, exporter, error) {
	if sk.hpke != nil {
		r, err := hpke.NewRecipient(enc, sk.hpke, hpkeKDF, hpkeAEAD, info)
		if err != nil {
			return nil, nil, ErrOpen
		}
		pt, err := r.Open(aad, ct)
		if err != nil {
			return nil, nil, ErrOpen
		}
		return pt, r.Export, nil
	}
	secret, err := rsa.DecryptOAEP(sha256.New(), nil, sk.rsa, enc, info)
	if err != nil || len(secret) != 32 {
		return nil, nil, ErrOpen
	}
	gcm, exp, err := rsaContext(secret, info)
	if err != nil {
		return nil, nil, ErrOpen
	}
	pt, err := gcm.Open(nil, zeroNonce[:], ct, aad)
	if err != nil {
		return nil, nil, ErrOpen
	}
	return pt, exp, nil
}

// The payload key of the RSA suite is used for exactly one message, so the
// all-zero GCM nonce never repeats under one key (as in HPKE's first Seal).
var zeroNonce [12]byte

// rsaContext derives the RSA suite's payload AEAD and exporter from the
// transported secret:
//
//	payload_key     = HKDF-SHA256(secret, salt="", info=lp8(labelRSAPayloadKey) || info, 32)
//	exporter_secret = HKDF-SHA256(secret, salt="", info=lp8(labelRSAExporter) || info, 32)
//	Export(ctx, L)  = HKDF-Expand-SHA256(exporter_secret, ctx, L)
func rsaContext(secret, info []byte) (cipher.AEAD, exporter, error) {
	payloadKey, err := hkdf.Key(sha256.New, secret, nil, string(append(lp8(labelRSAPayloadKey), info...)), 32)
	if err != nil {
		return nil, nil, err
	}
	exporterSecret, err := hkdf.Key(sha256.New, secret, nil, string(append(lp8(labelRSAExporter), info...)), 32)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := newAES256GCM(payloadKey)
	if err != nil {
		return nil, nil, err
	}
	exp := func(ctx string, length int) ([]byte, error) {
		if length <= 0 || length > 255*sha256.Size {
			return nil, errors.New("invalid export length")
		}
		return hkdf.Expand(sha256.New, exporterSecret, ctx, length)
	}
	return gcm, exp, nil
}

func newAES256GCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("AES-256-GCM needs a 32-byte key")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
