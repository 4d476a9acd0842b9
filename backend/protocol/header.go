package protocol

import "fmt"

const (
	// Version is the protocol version this package builds: version 2,
	// whose payload leaves the ranges out, as the verifier derives them
	// from the nonce anyway (docs/protocol.md §7).
	Version uint8 = 2
	// MinVersion is the oldest version it reads: version 1, whose payload
	// also carries the ranges, which the verifier compares with the ones
	// it derives. Both versions share every label, derivation and the
	// digest's transcript; the version byte is part of the header, so a
	// proof of one version never verifies as the other.
	MinVersion uint8 = 1
)

// ClientVersion is the version a client builds for a server that says it
// reads up to reads (its bundle's or receipt's proof_version; 0, absent,
// means version 1): the newest version both speak.
func ClientVersion(reads int) uint8 { return uint8(min(max(reads, 1), int(Version))) }

// Header is the clear part of a proof. It is bound to the sealed payload as
// both HPKE info and AEAD associated data, and it is hashed into the digest.
type Header struct {
	Version  uint8
	Suite    Suite
	KeyID    KeyID
	Role     string
	ClientID string
}

// marshal encodes version || suite || key_id || lp8(role) || lp8(client_id).
func (h *Header) marshal() ([]byte, error) {
	if err := ValidName(h.Role); err != nil {
		return nil, fmt.Errorf("role %w", err)
	}
	if err := ValidName(h.ClientID); err != nil {
		return nil, fmt.Errorf("client_id %w", err)
	}
	b := make([]byte, 0, 2+KeyIDSize+2+len(h.Role)+len(h.ClientID))
	b = append(b, h.Version, byte(h.Suite))
	b = append(b, h.KeyID[:]...)
	b = appendLP8(b, h.Role)
	b = appendLP8(b, h.ClientID)
	return b, nil
}

// parseHeader reads a header from r and checks version, suite and names.
func parseHeader(r *reader) (Header, error) {
	var h Header
	h.Version = r.u8()
	if r.failed {
		return h, ErrMalformed
	}
	if h.Version < MinVersion || h.Version > Version {
		return h, ErrVersion
	}
	h.Suite = Suite(r.u8())
	if r.failed {
		return h, ErrMalformed
	}
	if !h.Suite.Valid() {
		return h, ErrSuite
	}
	copy(h.KeyID[:], r.take(KeyIDSize))
	h.Role = string(r.lp8())
	h.ClientID = string(r.lp8())
	if r.failed || ValidName(h.Role) != nil || ValidName(h.ClientID) != nil {
		return h, ErrMalformed
	}
	return h, nil
}
