package protocol

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
)

// A receipt is the server's half of every successful login: sealed with the
// proof's own context and the proven generation's entropy (SealResponse,
// purpose "login"), so that only the server that holds both the private key
// and the client's entropy can make it and only the client that built the
// proof can open it. It confirms the login (names the client, the
// generation proven and the login ID the token carries in its metadata),
// and carries the next entropy generation and the current server keys when
// the client needs them. Nothing in it appears in clear anywhere else.

const (
	// ReceiptVersion is the receipt layout of this protocol version.
	ReceiptVersion = 2
	// ReceiptPurpose is the sealed-response purpose of receipts.
	ReceiptPurpose = "login"
	// MaxGeneration is the highest entropy generation: 2^53 - 1, the
	// largest integer every JSON implementation reads exactly (RFC 8259
	// §6, I-JSON). Receipts and bundles carry generations as JSON numbers,
	// so a server never makes a higher one and a client refuses one. At one
	// rotation a second it is 285 million years away.
	MaxGeneration = 1<<53 - 1
	// MaxServerKeys is the most keys a published list holds (§2.4).
	MaxServerKeys = 32
)

// Receipt is the plaintext of a sealed login receipt, encoded as JSON.
type Receipt struct {
	Version    int    `json:"receipt_version"`
	LoginID    string `json:"login_id"`
	Role       string `json:"role"`
	ClientID   string `json:"client_id"`
	Generation uint64 `json:"generation"`
	// ChallengeRequired tells the client whether its role requires
	// challenge mode from its next login on.
	ChallengeRequired bool `json:"challenge_required"`
	// Rotation is the next entropy generation, when the server issues one.
	Rotation *Rotation `json:"rotation,omitempty"`
	// ServerKeys are the server's current public keys, when the proof was
	// sealed to a key that is no longer current.
	ServerKeys []PublishedKey `json:"server_keys,omitempty"`
	// ProofVersion is the newest proof version the server reads; absent
	// (0) means 1. The client builds its next proofs in the newest version
	// both sides speak (docs/protocol.md §9.2).
	ProofVersion int `json:"proof_version,omitempty"`
}

// ReadsProofVersion is the newest proof version the receipt says the server
// reads: its proof_version, or 1 when it has none.
func (r *Receipt) ReadsProofVersion() int { return max(r.ProofVersion, 1) }

// Rotation is a new generation of the client's entropy, with the sampling
// its proofs must use.
type Rotation struct {
	Generation   uint64 `json:"generation"`
	Entropy      Base64 `json:"entropy"`
	SampleCount  int    `json:"sample_count"`
	SampleLength int    `json:"sample_length"`
}

// Sampling is the rotation's sampling parameters.
func (r *Rotation) Sampling() Sampling { return Sampling{Count: r.SampleCount, Length: r.SampleLength} }

// PublishedKey is a server public key as the keys endpoint, the enrollment
// bundle and receipts publish it.
type PublishedKey struct {
	KeyID     string `json:"key_id"`
	Suite     string `json:"suite"`
	PublicKey Base64 `json:"public_key"` // canonical padded standard base64 in JSON
	Current   bool   `json:"current"`
}

// Parse checks the key and returns it: known suite, valid key bytes, and a
// key_id that is the one derived from them.
func (k *PublishedKey) Parse() (*PublicKey, error) {
	// The key ID is the sender's text until it is checked: quoted, so that
	// an error shows no control character of it.
	s, err := ParseSuite(k.Suite)
	if err != nil {
		return nil, fmt.Errorf("server key %q: %w", k.KeyID, err)
	}
	pk, err := ParsePublicKey(s, k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("server key %q: %w", k.KeyID, err)
	}
	if pk.ID().String() != k.KeyID {
		return nil, fmt.Errorf("server key %q: key_id does not match the public key", k.KeyID)
	}
	return pk, nil
}

// NewReceipt starts the receipt of this login: the fields that confirm it.
func (c *Claims) NewReceipt(challengeRequired bool) *Receipt {
	return &Receipt{
		Version:           ReceiptVersion,
		LoginID:           c.LoginID(),
		Role:              c.Header.Role,
		ClientID:          c.Header.ClientID,
		Generation:        c.p.generation,
		ChallengeRequired: challengeRequired,
		ProofVersion:      int(Version),
	}
}

// SealReceipt seals r for the client that built this proof and encodes it
// in unpadded base64url. entropy is the whole entropy of the generation the
// proof was verified against.
func (c *Claims) SealReceipt(r *Receipt, entropy []byte) (string, error) {
	if len(entropy) == 0 {
		return "", errors.New("sealing a receipt needs the proven generation's entropy")
	}
	return c.SealReceiptKeyed(r, NewEntropyKey(entropy))
}

// SealReceiptKeyed is SealReceipt with the proven generation's entropy key
// (NewEntropyKey) instead of its entropy.
func (c *Claims) SealReceiptKeyed(r *Receipt, ek *EntropyKey) (string, error) {
	// A generation a client would refuse is a fault, not a receipt.
	if r.Generation > MaxGeneration || (r.Rotation != nil && r.Rotation.Generation > MaxGeneration) {
		return "", fmt.Errorf("entropy generation beyond %d", uint64(MaxGeneration))
	}
	pt, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sealed, err := c.SealResponseKeyed(ReceiptPurpose, pt, ek)
	if err != nil {
		return "", err
	}
	return proofEncoding.EncodeToString(sealed), nil
}

// OpenReceipt opens the receipt of this session's login and checks it as
// docs/protocol.md §9.2 says: its version, login ID, role, client and
// generation are this proof's; challenge_required is false unless the proof
// carried a challenge; proof_version, absent or at least the version of the
// proof the server has just read; any rotation is the next generation, at most
// MaxGeneration, with a sampling valid for its entropy; any server keys
// are 1 to MaxServerKeys well-formed keys under their own IDs, no ID twice,
// exactly one current and listed first. Entropy and keys are canonical
// padded base64 (Base64). Any failure is ErrResponse: the response did not
// come from the server that opened the proof.
func (s *ClientSession) OpenReceipt(encoded string) (*Receipt, error) {
	sealed, err := decodeCanonical(encoded)
	if err != nil {
		return nil, ErrResponse
	}
	pt, err := s.OpenResponse(ReceiptPurpose, sealed)
	if err != nil {
		return nil, err
	}
	r := &Receipt{}
	if err := json.Unmarshal(pt, r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	if r.Version != ReceiptVersion ||
		subtle.ConstantTimeCompare([]byte(r.LoginID), []byte(s.loginID)) != 1 ||
		r.Role != s.role || r.ClientID != s.clientID || r.Generation != s.generation {
		return nil, fmt.Errorf("%w: it confirms another login", ErrResponse)
	}
	// The server refuses a proof without a challenge when the role
	// requires one (§8.1 step 16), and reads the role once per login: a
	// receipt that says so for such a proof did not come from it.
	if r.ChallengeRequired && !s.challenged {
		return nil, fmt.Errorf("%w: it requires challenge mode of a proof that was accepted without a challenge", ErrResponse)
	}
	// A server that read this proof reads its version: a receipt that says
	// otherwise (or a negative version) did not come from it.
	if r.ProofVersion < 0 || r.ReadsProofVersion() < int(s.version) {
		return nil, fmt.Errorf("%w: proof_version %d, for a proof of version %d it has read", ErrResponse, r.ProofVersion, s.version)
	}
	if rot := r.Rotation; rot != nil {
		if rot.Generation != s.generation+1 || rot.Generation > MaxGeneration {
			return nil, fmt.Errorf("%w: rotation to generation %d does not follow %d", ErrResponse, rot.Generation, s.generation)
		}
		if err := rot.Sampling().Validate(len(rot.Entropy)); err != nil {
			return nil, fmt.Errorf("%w: rotation: %v", ErrResponse, err)
		}
	}
	if err := CheckKeyList(r.ServerKeys, true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	return r, nil
}

// CheckKeyList checks a published list of server keys (§3.1): every key
// parses under its own key ID, no key ID appears twice, and exactly one
// key is current, the first. An empty list passes only if empty is true.
func CheckKeyList(keys []PublishedKey, empty bool) error {
	if len(keys) == 0 {
		if empty {
			return nil
		}
		return errors.New("no server keys")
	}
	if len(keys) > MaxServerKeys {
		return fmt.Errorf("%d server keys, more than %d", len(keys), MaxServerKeys)
	}
	seen := make(map[string]bool, len(keys))
	for i := range keys {
		if _, err := keys[i].Parse(); err != nil {
			return err
		}
		if seen[keys[i].KeyID] {
			return fmt.Errorf("server key %q is listed twice", keys[i].KeyID)
		}
		seen[keys[i].KeyID] = true
		if keys[i].Current != (i == 0) {
			return errors.New("server keys must list exactly one current key, first")
		}
	}
	return nil
}

// LoginID is the login ID of this session's proof; the token Vault issues
// for it carries the same value in its metadata.
func (s *ClientSession) LoginID() string { return s.loginID }
