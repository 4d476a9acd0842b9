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

// challengeKey returns the key that MACs challenges, creating it once.
// It never changes, so it is cached after the first read.
func (b *entropyBackend) challengeKey(ctx context.Context, s logical.Storage) ([]byte, error) {
	if k, ok := b.challengeKeyCache.Load().(*[]byte); ok {
		return *k, nil
	}
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	entry, err := s.Get(ctx, challengeKeyStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading challenge key: %w", err)
	}
	var key []byte
	if entry != nil && len(entry.Value) == protocol.ChallengeKeySize {
		key = entry.Value
	} else {
		key = make([]byte, protocol.ChallengeKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := s.Put(ctx, &logical.StorageEntry{Key: challengeKeyStorageKey, Value: key, SealWrap: true}); err != nil {
			return nil, fmt.Errorf("writing challenge key: %w", err)
		}
	}
	b.challengeKeyCache.Store(&key)
	return key, nil
}
