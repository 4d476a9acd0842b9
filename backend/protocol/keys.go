package protocol

import (
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
)

const rsaModulusBits = 3072

// KeyIDSize is the length of a key ID in bytes.
const KeyIDSize = 8

// KeyID names a server public key. It is derived from the suite and the
// public key bytes, so anyone holding the public key can check it.
type KeyID [KeyIDSize]byte

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID parses the hexadecimal form of a key ID.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyIDSize {
		return id, fmt.Errorf("key id must be %d hexadecimal characters", 2*KeyIDSize)
	}
	copy(id[:], b)
	return id, nil
}

// deriveKeyID computes SHA-256(lp8(label) || suite || public)[:8].
func deriveKeyID(s Suite, public []byte) KeyID {
	h := sha256.New()
	h.Write(lp8(labelKeyID))
	h.Write([]byte{byte(s)})
	h.Write(public)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// PublicKey is a server public key that clients seal proofs to.
type PublicKey struct {
	suite Suite
	id    KeyID
	raw   []byte // the wire encoding, see Bytes

	hpke hpke.PublicKey
	rsa  *rsa.PublicKey
}

// Suite returns the key's suite.
func (k *PublicKey) Suite() Suite { return k.suite }

// ID returns the key's ID.
func (k *PublicKey) ID() KeyID { return k.id }

// Bytes returns the public key's encoding: the HPKE SerializePublicKey
// output for HPKE suites, a DER SubjectPublicKeyInfo for the RSA suite.
func (k *PublicKey) Bytes() []byte { return append([]byte(nil), k.raw...) }

// ParsePublicKey parses a public key of the given suite.
func ParsePublicKey(s Suite, b []byte) (*PublicKey, error) {
	pk := &PublicKey{suite: s, raw: append([]byte(nil), b...)}
	switch {
	case s.hpkeKEM() != nil:
		k, err := s.hpkeKEM().NewPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("invalid %s public key: %w", s, err)
		}
		pk.hpke = k
	case s == SuiteRSA3072:
		k, err := parseRSAPublicKey(b)
		if err != nil {
			return nil, err
		}
		pk.rsa = k
	default:
		return nil, fmt.Errorf("unknown suite %d", uint8(s))
	}
	pk.id = deriveKeyID(s, pk.raw)
	return pk, nil
}

func parseRSAPublicKey(b []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("invalid RSA public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("invalid RSA public key: not an RSA key")
	}
	if rk.N.BitLen() != rsaModulusBits || rk.E != 65537 {
		return nil, fmt.Errorf("invalid RSA public key: want %d bits and exponent 65537", rsaModulusBits)
	}
	return rk, nil
}

// PrivateKey is a server private key. It lives only in Vault storage.
type PrivateKey struct {
	public *PublicKey
	raw    []byte

	hpke hpke.PrivateKey
	rsa  *rsa.PrivateKey
}

// Public returns the matching public key.
func (k *PrivateKey) Public() *PublicKey { return k.public }

// Bytes returns the private key's encoding: the HPKE SerializePrivateKey
// output for HPKE suites, PKCS #8 DER for the RSA suite.
func (k *PrivateKey) Bytes() []byte { return append([]byte(nil), k.raw...) }

// GenerateKey creates a new server key pair of the given suite with
// crypto/rand.
func GenerateKey(s Suite) (*PrivateKey, error) {
	switch {
	case s.hpkeKEM() != nil:
		k, err := s.hpkeKEM().GenerateKey()
		if err != nil {
			return nil, err
		}
		raw, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		return ParsePrivateKey(s, raw)
	case s == SuiteRSA3072:
		k, err := rsa.GenerateKey(rand.Reader, rsaModulusBits)
		if err != nil {
			return nil, err
		}
		raw, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return ParsePrivateKey(s, raw)
	}
	return nil, fmt.Errorf("unknown suite %d", uint8(s))
}

// ParsePrivateKey parses a private key of the given suite.
func ParsePrivateKey(s Suite, b []byte) (*PrivateKey, error) {
	sk := &PrivateKey{raw: append([]byte(nil), b...)}
	var pub []byte
	switch {
	case s.hpkeKEM() != nil:
		k, err := s.hpkeKEM().NewPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("invalid %s private key: %w", s, err)
		}
		sk.hpke = k
		pub = k.PublicKey().Bytes()
	case s == SuiteRSA3072:
		k, err := x509.ParsePKCS8PrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("invalid RSA private key: not an RSA key")
		}
		sk.rsa = rk
		if pub, err = x509.MarshalPKIXPublicKey(&rk.PublicKey); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown suite %d", uint8(s))
	}
	pk, err := ParsePublicKey(s, pub)
	if err != nil {
		return nil, err
	}
	sk.public = pk
	return sk, nil
}
