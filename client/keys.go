package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// RefreshKeys fetches the server's public keys from the mount's keys
// endpoint and stores them in the state, under the state's lock, and
// returns them. Login does this by itself when Vault no longer accepts the
// key a proof was sealed to; this is for an operator who knows the keys
// have changed.
//
// The keys endpoint is unauthenticated: the keys are as trustworthy as the
// connection to Vault (VAULT_ADDR over TLS). Login, by contrast, stores
// fetched keys only once a receipt has confirmed them.
func (a *EntropyAuth) RefreshKeys(ctx context.Context, c *api.Client) ([]ServerKey, error) {
	lc, err := unauthenticated(c)
	if err != nil {
		return nil, err
	}
	unlock, err := lockExisting(ctx, a.statePath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := LoadState(a.statePath)
	if err != nil {
		return nil, err
	}
	keys, err := fetchKeys(ctx, lc, a.mount(s))
	if err != nil {
		return nil, err
	}
	if !sameKeys(keys, s.ServerKeys) {
		s.ServerKeys = keys
		if err := s.saveLocked(a.statePath); err != nil {
			return nil, fmt.Errorf("saving the state: %w", err)
		}
	}
	return keys, nil
}

// fetchKeys reads the mount's keys endpoint: data.keys is a list of
// {key_id, suite, public_key, current, ...}. It refuses a list without a
// current key that parses, as a state holding it would be unusable.
func fetchKeys(ctx context.Context, lc *api.Client, mount string) ([]ServerKey, error) {
	path := mount + "/keys"
	secret, err := lc.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("fetching the server keys from %s: %w", path, err)
	}
	if secret == nil || secret.Data["keys"] == nil {
		return nil, fmt.Errorf("fetching the server keys from %s: the response holds no keys", path)
	}
	// Data went through a generic JSON decoding; encoding it again and
	// decoding it into the published form checks its shape.
	raw, err := json.Marshal(secret.Data["keys"])
	if err != nil {
		return nil, err
	}
	var keys []ServerKey
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("fetching the server keys from %s: %w", path, err)
	}
	if _, err := currentKey(keys); err != nil {
		return nil, fmt.Errorf("fetching the server keys from %s: %w", path, err)
	}
	return keys, nil
}
