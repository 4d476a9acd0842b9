package backend

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// challengeKeyStorageKey holds the key that MACs challenges.
const challengeKeyStorageKey = "challenge_key"

// challengeKey returns the key that MACs challenges. It never creates it
// (initializeKeys does): the challenge endpoint and the login path are
// unauthenticated and write nothing for it. The key never changes, so it
// is cached after the first read.
func (b *entropyBackend) challengeKey(ctx context.Context, s logical.Storage) ([]byte, error) {
	if k, ok := b.challengeKeyCache.Load().(*[]byte); ok {
		return *k, nil
	}
	key, err := readChallengeKey(ctx, s)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, b.errKeysNotCreated("challenge key")
	}
	b.challengeKeyCache.Store(&key)
	return key, nil
}

func readChallengeKey(ctx context.Context, s logical.Storage) ([]byte, error) {
	entry, err := s.Get(ctx, challengeKeyStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading challenge key: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	// A raw entry, like entropy: no schema version (schema.go).
	if len(entry.Value) != protocol.ChallengeKeySize {
		return nil, fmt.Errorf("challenge key in storage is %d bytes, want %d", len(entry.Value), protocol.ChallengeKeySize)
	}
	return entry.Value, nil
}

// ensureChallengeKey creates the challenge key if there is none.
func (b *entropyBackend) ensureChallengeKey(ctx context.Context, s logical.Storage) error {
	if _, ok := b.challengeKeyCache.Load().(*[]byte); ok {
		return nil
	}
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	key, err := readChallengeKey(ctx, s)
	if err != nil {
		return err
	}
	if key == nil {
		key = make([]byte, protocol.ChallengeKeySize)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if err := s.Put(ctx, &logical.StorageEntry{Key: challengeKeyStorageKey, Value: key, SealWrap: true}); err != nil {
			return fmt.Errorf("writing challenge key: %w", err)
		}
		b.Logger().Info("challenge key created")
	}
	b.challengeKeyCache.Store(&key)
	return nil
}
