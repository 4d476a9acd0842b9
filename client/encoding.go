package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The encoded state is the form of a state that travels as one line of
// text: a CI secret delivered as an environment variable, a value in a
// secrets manager, a line piped to stdin. It is read-only by nature (no
// process can write back to it), so it holds only what a read-only client
// proves, the current generation:
//
//	ves1.<header>.<entropy>
//
// "ves1." names the encoding and its version (vault-entropy state, 1).
// <header> is the unpadded base64url encoding (RFC 4648 §5) of the state's
// JSON without its entropy and without a pending generation: exactly the
// fields state_version, mount_path, role, client_id, generation,
// entropy_size, sample_count, sample_length, server_keys and
// challenge_required, and no other. <entropy> is the unpadded base64url
// encoding of the raw entropy, whose length must be entropy_size: a token
// cut short in a copy and paste is refused here, not by Vault.
//
// The entropy travels apart from the JSON so that it is base64-encoded
// once (4/3 of its size), not twice as base64 inside base64 would be
// (16/9). Entropy is random, so compressing it would gain nothing. The
// form is one opaque token of the base64url alphabet and dots: GitHub
// Actions masks such a secret in logs, which it cannot promise for
// structured text such as JSON.
const (
	encodedStatePrefix = "ves1."
	// maxEncodedState bounds what the decoder reads: the largest entropy
	// (256 KiB, 350 KB encoded) with a full keyring of the largest keys
	// fits with room to spare.
	maxEncodedState = 1 << 20
)

// ErrEncodedState: an encoded state (VAULT_ENTROPY_STATE, stdin) that is
// not one: truncated, not base64url, another version, unknown fields, or
// a state that does not validate.
var ErrEncodedState = errors.New("encoded client state is not valid")

// encodedHeader is the state in the encoding's header: State without its
// entropy and pending generation. The decoder refuses any field not
// named here, so that neither can be smuggled in through the header.
type encodedHeader struct {
	Version           int         `json:"state_version"`
	MountPath         string      `json:"mount_path"`
	Role              string      `json:"role"`
	ClientID          string      `json:"client_id"`
	Generation        uint64      `json:"generation"`
	EntropySize       int         `json:"entropy_size"`
	SampleCount       int         `json:"sample_count"`
	SampleLength      int         `json:"sample_length"`
	ServerKeys        []ServerKey `json:"server_keys"`
	ChallengeRequired bool        `json:"challenge_required"`
	ProofVersion      int         `json:"proof_version,omitempty"`
}

// EncodeState returns the state in its encoded form (see the constants
// above): its current generation, never a pending one, which a read-only
// client would not prove. The result holds the client's secret entropy:
// treat it as the state file itself.
func EncodeState(s *State) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	h, err := json.Marshal(encodedHeader{
		Version: s.Version, MountPath: s.MountPath, Role: s.Role, ClientID: s.ClientID,
		Generation: s.Generation, EntropySize: len(s.Entropy), SampleCount: s.SampleCount, SampleLength: s.SampleLength,
		ServerKeys: s.ServerKeys, ChallengeRequired: s.ChallengeRequired, ProofVersion: s.ProofVersion,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return encodedStatePrefix + enc.EncodeToString(h) + "." + enc.EncodeToString(s.Entropy), nil
}

// DecodeState reads a state given as text rather than as a file: the
// encoded form (see EncodeState), or the state file's JSON itself (a text
// whose first non-blank character is "{"), so that both
// `VAULT_ENTROPY_STATE=$(vault-entropy bootstrap -encode ...)` and
// `vault-entropy login -state=- < state.json` work. Surrounding white
// space (the newline a secret store or a shell adds) is ignored. It is
// strict where the state file loader is lenient: unknown fields, trailing
// data and padding are refused, as a text pasted into a secret store has
// no older writer to be compatible with. Errors never quote the input.
func DecodeState(text []byte) (*State, error) {
	if len(text) > maxEncodedState {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrEncodedState, maxEncodedState)
	}
	text = bytes.TrimSpace(text)
	var s *State
	var err error
	switch {
	case len(text) == 0:
		return nil, fmt.Errorf("%w: empty", ErrEncodedState)
	case text[0] == '{':
		s, err = decodeStateJSON(text)
	case bytes.HasPrefix(text, []byte(encodedStatePrefix)):
		s, err = decodeEncoded(string(text[len(encodedStatePrefix):]))
	case bytes.HasPrefix(text, []byte("ves")):
		// Another version of the encoding (or a mangled prefix). The
		// text is a secret: it is never quoted.
		return nil, fmt.Errorf("%w: its version tag is not %q", ErrEncodedState, strings.TrimSuffix(encodedStatePrefix, "."))
	default:
		// Most likely a path, from before VAULT_ENTROPY_STATE held the
		// state itself.
		return nil, fmt.Errorf("%w: it starts neither with %q nor with \"{\" (a state file's path belongs in -state or %s)", ErrEncodedState, encodedStatePrefix, StateFileEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncodedState, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncodedState, err)
	}
	return s, nil
}

func decodeEncoded(body string) (*State, error) {
	header, entropy, ok := strings.Cut(body, ".")
	if !ok || strings.Contains(entropy, ".") {
		return nil, errors.New("want two parts after the prefix, header and entropy, separated by one dot")
	}
	enc := base64.RawURLEncoding.Strict()
	h, err := enc.DecodeString(header)
	if err != nil {
		return nil, errors.New("the header is not unpadded base64url")
	}
	e, err := enc.DecodeString(entropy)
	if err != nil {
		return nil, errors.New("the entropy is not unpadded base64url")
	}
	var eh encodedHeader
	if err := decodeStrictJSON(h, &eh); err != nil {
		return nil, fmt.Errorf("the header: %w", err)
	}
	if len(e) != eh.EntropySize {
		return nil, fmt.Errorf("the entropy is %d bytes, the header says %d: the text was cut or altered", len(e), eh.EntropySize)
	}
	return &State{
		Version: eh.Version, MountPath: eh.MountPath, Role: eh.Role, ClientID: eh.ClientID,
		Generation: eh.Generation, Entropy: e, SampleCount: eh.SampleCount, SampleLength: eh.SampleLength,
		ServerKeys: eh.ServerKeys, ChallengeRequired: eh.ChallengeRequired, ProofVersion: eh.ProofVersion,
	}, nil
}

func decodeStateJSON(text []byte) (*State, error) {
	s := &State{}
	if err := decodeStrictJSON(text, s); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeStrictJSON decodes one JSON value into v, refusing unknown fields
// and anything after the value. Its errors name fields, never values.
func decodeStrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not JSON (at byte %d)", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("field %q has the wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errors.New(strings.TrimPrefix(err.Error(), "json: "))
		}
		return errors.New("not a JSON object of the state's fields")
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return errors.New("data after the JSON object")
	}
	return nil
}
