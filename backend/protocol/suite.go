package protocol

import (
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
)

// Suite names the public-key construction a proof is sealed with. Its value
// is the suite byte on the wire.
type Suite uint8

const (
	// SuiteXWing is HPKE with MLKEM768-X25519 (X-Wing, a post-quantum
	// hybrid), HKDF-SHA256 and AES-256-GCM. The default.
	SuiteXWing Suite = 1
	// SuiteP256 is HPKE with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and
	// AES-256-GCM, for sites that need a NIST curve.
	SuiteP256 Suite = 2
	// SuiteRSA3072 is the seed's construction made sound: a fresh 256-bit
	// secret encrypted with RSA-OAEP-SHA256 under a 3072-bit key, and the
	// payload sealed with AES-256-GCM under a key derived from that secret.
	SuiteRSA3072 Suite = 3
)

// DefaultSuite is the suite a new server key uses unless configured otherwise.
const DefaultSuite = SuiteXWing

var suiteNames = map[Suite]string{
	SuiteXWing:   "xwing-hkdf-sha256-aes-256-gcm",
	SuiteP256:    "p256-hkdf-sha256-aes-256-gcm",
	SuiteRSA3072: "rsa3072-oaep-sha256-aes-256-gcm",
}

// Suites lists every supported suite, default first.
func Suites() []Suite { return []Suite{SuiteXWing, SuiteP256, SuiteRSA3072} }

// SuiteNames lists the names of every supported suite, default first.
func SuiteNames() []string {
	names := make([]string, 0, len(suiteNames))
	for _, s := range Suites() {
		names = append(names, s.String())
	}
	return names
}

func (s Suite) String() string {
	if n, ok := suiteNames[s]; ok {
		return n
	}
	return fmt.Sprintf("unknown-suite-%d", uint8(s))
}

// Valid reports whether s is a supported suite.
func (s Suite) Valid() bool { _, ok := suiteNames[s]; return ok }

// ParseSuite returns the suite with the given name.
func ParseSuite(name string) (Suite, error) {
	for s, n := range suiteNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown suite %q (supported: %v)", name, SuiteNames())
}

// encLen is the exact length of the encapsulated key (HPKE enc, or the RSA
// ciphertext) for each suite. A proof whose body is shorter is refused before
// any decryption is attempted.
func (s Suite) encLen() int {
	switch s {
	case SuiteXWing:
		return 1120 // ML-KEM-768 ciphertext (1088) + X25519 share (32)
	case SuiteP256:
		return 65 // uncompressed P-256 point
	case SuiteRSA3072:
		return rsaModulusBits / 8
	}
	return 0
}

// hpkeKEM is the HPKE KEM of an HPKE suite, or nil for the RSA suite.
func (s Suite) hpkeKEM() hpke.KEM {
	switch s {
	case SuiteXWing:
		return hpke.MLKEM768X25519()
	case SuiteP256:
		return hpke.DHKEM(ecdh.P256())
	}
	return nil
}

// The KDF and AEAD are the same for every HPKE suite.
var (
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)
