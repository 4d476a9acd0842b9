package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// FetchKeys fetches the server's public keys from the mount's keys endpoint
// and returns them, without storing them. The endpoint is unauthenticated:
// whoever answers the client's HTTP can serve any key. Keys enter the state
// only through a receipt, which only a server holding both a key's private
// half and this client's entropy can make (docs/protocol.md §9.1): Login
// fetches the keys by itself when Vault no longer accepts the state's key,
// seals one retry to the fetched current key, and stores the keys only if
// that retry's receipt opens.
func (a *EntropyAuth) FetchKeys(ctx context.Context, c *api.Client) ([]ServerKey, error) {
	lc, err := unauthenticated(c)
	if err != nil {
		return nil, err
	}
	s, err := a.ReadState()
	if err != nil {
		return nil, err
	}
	return fetchKeys(ctx, lc, a.mount(s))
}

// fetchKeys reads the mount's keys endpoint: data.keys is a list of
// {key_id, suite, public_key, current, ...} and data.current_key_id the
// first one's ID. It refuses a list that breaks the rules of a published
// key list (protocol.CheckKeyList), as a state holding it would be
// unusable.
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
	// current_key_id repeats the first key's ID (docs/protocol.md §17.1): a
	// list that says otherwise is malformed.
	if id, present := secret.Data["current_key_id"]; present && id != keys[0].KeyID {
		return nil, fmt.Errorf("fetching the server keys from %s: current_key_id %v is not the first key's, %s", path, id, keys[0].KeyID)
	}
	return keys, nil
}
