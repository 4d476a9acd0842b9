package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// bundleVersion is the enrollment bundle layout this package reads.
const bundleVersion = 1

// bundle is the data of an enrollment response (role/<name>/enroll):
// the client's state, with challenge_required set from its role.
type bundle struct {
	BundleVersion int `json:"bundle_version"`
	State
}

// StateFromBundle turns the data of an enrollment response into client
// state. It accepts the data object itself, or the whole response as
// `vault write -format=json` prints it (with the bundle under "data").
func StateFromBundle(raw []byte) (*State, error) {
	var outer struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		return nil, fmt.Errorf("bundle is not JSON: %w", err)
	}
	if len(outer.Data) > 0 && string(outer.Data) != "null" {
		raw = outer.Data
	}
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("bundle is malformed: %w", err)
	}
	if b.BundleVersion != bundleVersion {
		return nil, fmt.Errorf("bundle_version %d is not supported (want %d)", b.BundleVersion, bundleVersion)
	}
	s := b.State
	s.Version = stateVersion
	// A new client starts at its first generation; a bundle never carries
	// a pending one, and a stray field must not plant one.
	s.Pending = nil
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("bundle is incomplete: %w", err)
	}
	return &s, nil
}

// Unwrap redeems a response-wrapping token holding an enrollment bundle and
// returns the client state it holds. The token is single-use: once
// unwrapped, nobody else can read the bundle, and an unwrap that fails
// because someone else already did is a sign of interception.
func Unwrap(ctx context.Context, c *api.Client, wrappingToken string) (*State, error) {
	if wrappingToken == "" {
		return nil, errors.New("empty wrapping token")
	}
	// A client of its own, whose only token is the wrapping token.
	uc, err := c.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	uc.SetToken(wrappingToken)
	secret, err := uc.Logical().UnwrapWithContext(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("unwrapping the enrollment bundle: %w", err)
	}
	if secret == nil || secret.Data == nil {
		return nil, errors.New("the wrapping token held no data")
	}
	raw, err := json.Marshal(secret.Data)
	if err != nil {
		return nil, err
	}
	return StateFromBundle(raw)
}
