package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// stateVersion is the version of the state file's layout. Fields added
// since (pending, challenge_required) are optional, and their absence
// means none, so files written before them still load: the version stays.
const stateVersion = 1

// State is everything a client holds: its identity, its secret entropy and
// the server's public keys. It is stored as JSON in a file only its owner
// can read.
type State struct {
	Version      int         `json:"state_version"`
	MountPath    string      `json:"mount_path"`
	Role         string      `json:"role"`
	ClientID     string      `json:"client_id"`
	Generation   uint64      `json:"generation"`
	Entropy      Bytes       `json:"entropy"`
	SampleCount  int         `json:"sample_count"`
	SampleLength int         `json:"sample_length"`
	ServerKeys   []ServerKey `json:"server_keys"`
	// ChallengeRequired: the client's role requires challenge mode, so
	// every login first fetches a challenge. Set from the enrollment
	// bundle and from each login's receipt.
	ChallengeRequired bool `json:"challenge_required"`
	// ProofVersion is the newest proof version the server reads, as its
	// bundle and receipts say; absent (0) means 1, a server from before
	// version 2. The client builds its proofs in the newest version both
	// sides speak.
	ProofVersion int `json:"proof_version,omitempty"`
	// Pending is the next generation, issued by the server in a login's
	// receipt and not yet proven. The next login proves it; until then the
	// current generation stays valid on the server, so a lost pending
	// generation is simply issued again.
	Pending *PendingGeneration `json:"pending,omitempty"`
}

// ServerKey is one of the server's public keys, as the `keys` endpoint, the
// enrollment bundle and login receipts publish it (public_key in standard
// base64).
type ServerKey = protocol.PublishedKey

// PendingGeneration is an entropy generation the server has issued and the
// client has not proven yet.
type PendingGeneration struct {
	Generation   uint64 `json:"generation"`
	Entropy      Bytes  `json:"entropy"`
	SampleCount  int    `json:"sample_count"`
	SampleLength int    `json:"sample_length"`
}

// Bytes is a byte string that the state file and the enrollment bundle
// carry as canonical padded standard base64 (docs/protocol.md §2.1): a
// reader refuses any other text of it.
type Bytes = protocol.Base64

func (p *PendingGeneration) sampling() protocol.Sampling {
	return protocol.Sampling{Count: p.SampleCount, Length: p.SampleLength}
}

// String describes the pending generation without its entropy.
func (p PendingGeneration) String() string {
	return fmt.Sprintf("pending generation %d (%d bytes of entropy)", p.Generation, len(p.Entropy))
}

// GoString is String, for %#v.
func (p PendingGeneration) GoString() string { return p.String() }

// Errors a caller can tell apart with errors.Is.
var (
	ErrNoState       = errors.New("no client state")
	ErrCorruptState  = errors.New("client state is corrupt")
	ErrStateReadable = errors.New("client state is readable by other users")
	// ErrStateOwner: the state file or its lock file belongs to another
	// user, who could read, rewrite or hold it.
	ErrStateOwner = errors.New("client state belongs to another user")
	// ErrStateDirectory: the state file's directory is writable by other
	// users, or belongs to one: they could replace the state or plant its
	// lock file.
	ErrStateDirectory = errors.New("client state's directory is not private")
)

// Validate checks that the state is complete and consistent.
func (s *State) Validate() error {
	switch {
	case s.Version != stateVersion:
		return fmt.Errorf("unsupported state_version %d", s.Version)
	case s.MountPath == "" || strings.HasPrefix(s.MountPath, "/") || strings.HasSuffix(s.MountPath, "/"):
		return fmt.Errorf("invalid mount_path %q", s.MountPath)
	case protocol.ValidName(s.Role) != nil:
		return fmt.Errorf("invalid role %q", s.Role)
	case protocol.ValidName(s.ClientID) != nil:
		return fmt.Errorf("invalid client_id %q", s.ClientID)
	case s.Generation == 0:
		return errors.New("missing generation")
	case s.Generation > protocol.MaxGeneration || (s.Pending != nil && s.Pending.Generation > protocol.MaxGeneration):
		return fmt.Errorf("generation above %d", uint64(protocol.MaxGeneration))
	case s.ProofVersion < 0:
		return fmt.Errorf("invalid proof_version %d", s.ProofVersion)
	}
	if err := s.sampling().Validate(len(s.Entropy)); err != nil {
		return fmt.Errorf("entropy and sampling: %w", err)
	}
	if p := s.Pending; p != nil {
		// The server issues generation+1 and nothing else; anything
		// else could never be proven.
		if p.Generation != s.Generation+1 {
			return fmt.Errorf("pending generation %d does not follow generation %d", p.Generation, s.Generation)
		}
		if err := p.sampling().Validate(len(p.Entropy)); err != nil {
			return fmt.Errorf("pending generation's entropy and sampling: %w", err)
		}
	}
	if _, err := currentKey(s.ServerKeys); err != nil {
		return err
	}
	return nil
}

// String describes the state without its entropy, so that no log line or
// error message made with fmt can carry the secret.
func (s State) String() string {
	extra := ""
	if s.Pending != nil {
		extra += ", " + s.Pending.String()
	}
	if s.ChallengeRequired {
		extra += ", challenge mode"
	}
	return fmt.Sprintf("client %s of role %s at %s (generation %d, %d bytes of entropy%s, %d server keys)",
		s.ClientID, s.Role, s.MountPath, s.Generation, len(s.Entropy), extra, len(s.ServerKeys))
}

// GoString is String, for %#v.
func (s State) GoString() string { return s.String() }

// proofVersion is the protocol version of the client's next proof: the
// newest one both the server (ProofVersion, absent meaning 1) and this
// package speak.
func (s *State) proofVersion() uint8 { return protocol.ClientVersion(s.ProofVersion) }

func (s *State) sampling() protocol.Sampling {
	return protocol.Sampling{Count: s.SampleCount, Length: s.SampleLength}
}

// proving is the generation the next login proves: the pending one when
// there is one, else the current one. Proving the pending generation is
// what tells the server the client holds it, so that it can retire the
// previous one.
func (s *State) proving() (generation uint64, entropy []byte, sampling protocol.Sampling) {
	if p := s.Pending; p != nil {
		return p.Generation, p.Entropy, p.sampling()
	}
	return s.Generation, s.Entropy, s.sampling()
}

// currentKey returns the server key proofs are sealed to: the first of a
// list that protocol.CheckKeyList accepts (exactly one current key, first;
// every key under its own ID).
func currentKey(keys []ServerKey) (*protocol.PublicKey, error) {
	if err := protocol.CheckKeyList(keys, false); err != nil {
		return nil, err
	}
	return keys[0].Parse()
}

// LoadState reads and checks the state file at path. It refuses a file that
// group or others can read, as ssh does with private keys, a file another
// user owns, and one in a directory other users can write. It takes no
// lock: Save replaces the file by a rename, so a reader sees either the old
// state or the new one.
func LoadState(path string) (*State, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoState, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorruptState, path)
	}
	if err := checkPrivateMode(path, fi); err != nil {
		return nil, err
	}
	if err := checkOwned(path, fi); err != nil {
		return nil, err
	}
	if err := checkStateDir(path); err != nil {
		return nil, err
	}
	s := &State{}
	dec := json.NewDecoder(f)
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptState, path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptState, path, err)
	}
	return s, nil
}

// Save writes the state to path atomically, holding the state's lock (see
// Login) so that it never interleaves with a login that shares the file:
// a temporary file in the same directory, created 0600, synced, then
// renamed over path, and the directory synced. A crash leaves either the
// old state or the new one.
func (s *State) Save(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	unlock, err := lockState(context.Background(), path)
	if err != nil {
		return err
	}
	defer unlock()
	return s.saveLocked(path)
}

// saveLocked is Save for a caller that holds the state's lock.
func (s *State) saveLocked(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteSecretFile(path, append(b, '\n'))
}
