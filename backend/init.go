package backend

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// initializeMount is the backend's InitializeFunc: Vault calls it when the
// mount is enabled, and on every node that loads it (unseal, plugin reload,
// a standby taking over). It opens the replay window and creates the
// server keys, so that the unauthenticated endpoints (keys, challenge,
// login) only ever read them: an anonymous request writes nothing. A
// failure is logged and retried by the periodic function; Vault would only
// log the error too.
func (b *entropyBackend) initializeMount(ctx context.Context, req *logical.InitializationRequest) error {
	if err := b.initialize(ctx, req); err != nil {
		return err
	}
	if err := b.initializeKeys(ctx, req.Storage); err != nil {
		b.Logger().Error("server keys not created at start; the periodic function will try again", "error", err)
	}
	return nil
}

// initializeKeys creates the keyring and the challenge key if they do not
// exist yet, where this mount's storage can be written (as periodicFunc
// decides it). Elsewhere, on performance standbys and secondaries, the
// node that writes the storage creates them and replication brings them
// here.
func (b *entropyBackend) initializeKeys(ctx context.Context, s logical.Storage) error {
	if !b.WriteSafeReplicationState() {
		return nil
	}
	if _, err := b.keyring(ctx, s); err != nil {
		return err
	}
	return b.ensureChallengeKey(ctx, s)
}

// errKeysNotCreated is what an unauthenticated request gets when a key
// it needs does not exist yet. Where storage is read-only it is
// logical.ErrReadOnly, which makes Vault forward the request to the node
// that creates the keys; elsewhere the mount's initialization failed, and
// the periodic function is retrying it.
func (b *entropyBackend) errKeysNotCreated(what string) error {
	if !b.WriteSafeReplicationState() {
		return logical.ErrReadOnly
	}
	return fmt.Errorf("the %s is not created yet (the mount's initialization failed; it is retried every minute)", what)
}

// publishedKeyring returns the keyring for the unauthenticated keys
// endpoint: read through the cache, never created.
func (b *entropyBackend) publishedKeyring(ctx context.Context, s logical.Storage) (*keyring, error) {
	kr, err := b.cachedKeyring(ctx, s)
	if err != nil {
		return nil, err
	}
	if kr == nil || len(kr.Keys) == 0 {
		return nil, b.errKeysNotCreated("keyring")
	}
	return kr, nil
}
