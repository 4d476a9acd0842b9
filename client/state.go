package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// stateVersion is the version of the state file's layout.
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
	Entropy      []byte      `json:"entropy"`
	SampleCount  int         `json:"sample_count"`
	SampleLength int         `json:"sample_length"`
	ServerKeys   []ServerKey `json:"server_keys"`
}

// ServerKey is one of the server's public keys, as the `keys` endpoint and
// the enrollment bundle publish it.
type ServerKey struct {
	KeyID     string `json:"key_id"`
	Suite     string `json:"suite"`
	PublicKey string `json:"public_key"` // base64
	Current   bool   `json:"current"`
}

// Errors a caller can tell apart with errors.Is.
var (
	ErrNoState       = errors.New("no client state")
	ErrCorruptState  = errors.New("client state is corrupt")
	ErrStateReadable = errors.New("client state is readable by other users")
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
	}
	if err := s.sampling().Validate(len(s.Entropy)); err != nil {
		return fmt.Errorf("entropy and sampling: %w", err)
	}
	if _, err := s.currentKey(); err != nil {
		return err
	}
	return nil
}

// String describes the state without its entropy, so that no log line or
// error message made with fmt can carry the secret.
func (s State) String() string {
	return fmt.Sprintf("client %s of role %s at %s (generation %d, %d bytes of entropy, %d server keys)",
		s.ClientID, s.Role, s.MountPath, s.Generation, len(s.Entropy), len(s.ServerKeys))
}

// GoString is String, for %#v.
func (s State) GoString() string { return s.String() }

func (s *State) sampling() protocol.Sampling {
	return protocol.Sampling{Count: s.SampleCount, Length: s.SampleLength}
}

// currentKey returns the server key proofs are sealed to: the one marked
// current, else the first.
func (s *State) currentKey() (*protocol.PublicKey, error) {
	if len(s.ServerKeys) == 0 {
		return nil, errors.New("no server keys")
	}
	k := s.ServerKeys[0]
	for _, c := range s.ServerKeys {
		if c.Current {
			k = c
			break
		}
	}
	suite, err := protocol.ParseSuite(k.Suite)
	if err != nil {
		return nil, fmt.Errorf("server key %s: %w", k.KeyID, err)
	}
	raw, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("server key %s: public key is not base64", k.KeyID)
	}
	pk, err := protocol.ParsePublicKey(suite, raw)
	if err != nil {
		return nil, fmt.Errorf("server key %s: %w", k.KeyID, err)
	}
	if pk.ID().String() != k.KeyID {
		return nil, fmt.Errorf("server key %s: key_id does not match the public key", k.KeyID)
	}
	return pk, nil
}

// LoadState reads and checks the state file at path. It refuses a file that
// group or others can read, as ssh does with private keys.
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
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrStateReadable, path, perm)
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

// Save writes the state to path atomically: a temporary file in the same
// directory, created 0600, synced, then renamed over path, and the
// directory synced. A crash leaves either the old state or the new one.
func (s *State) Save(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
