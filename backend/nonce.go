package backend

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// nonceStore makes every accepted proof single-use. It is the one place
// that knows how accepted nonces are remembered, so that a design that
// writes nothing per login can replace this one.
type nonceStore interface {
	// claim records that the nonce with this ID was accepted; the record
	// must last at least until expiresAt. It reports false, and records
	// nothing, if the nonce was claimed before.
	claim(ctx context.Context, s logical.Storage, id [32]byte, issuedAt, expiresAt time.Time) (bool, error)
}

// nonceBucket groups nonce records by the minute their proof was issued,
// so that tidying can drop whole buckets once they are past every
// possible skew window. A replayed proof carries the same issued_at (it is
// sealed), so it always lands in the same bucket as the original.
const nonceBucket = time.Minute

// nonceMargin keeps a nonce record past the last moment its proof could pass
// the time check, by more than a login can take between that check and the
// nonce claim, so that tidy never forgets a nonce a replay could still use.
const nonceMargin = time.Minute

// nonceExpiry is when the record of a nonce may be forgotten: once a proof
// issued at issuedAt fails the time check under the largest skew the config
// allows, whatever the skew was when it was accepted.
func nonceExpiry(issuedAt time.Time) time.Time {
	return issuedAt.Add(maxClockSkew + nonceMargin)
}

// storageNonceStore keeps accepted nonces in Vault storage, which is shared
// by every node of a cluster and survives restarts.
type storageNonceStore struct {
	locks []*locksutil.LockEntry
}

func newStorageNonceStore() *storageNonceStore {
	return &storageNonceStore{locks: locksutil.CreateLocks()}
}

type nonceEntry struct {
	ExpiresAt time.Time `json:"expires_at"`
}

func nonceStorageKey(id [32]byte, issuedAt time.Time) string {
	bucket := issuedAt.Unix() / int64(nonceBucket/time.Second)
	return noncePrefix + strconv.FormatInt(bucket, 10) + "/" + hex.EncodeToString(id[:])
}

func (n *storageNonceStore) claim(ctx context.Context, s logical.Storage, id [32]byte, issuedAt, expiresAt time.Time) (bool, error) {
	key := nonceStorageKey(id, issuedAt)
	lock := locksutil.LockForKey(n.locks, key)
	lock.Lock()
	defer lock.Unlock()

	existing, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reading nonce: %w", err)
	}
	if existing != nil {
		return false, nil
	}
	entry, err := logical.StorageEntryJSON(key, &nonceEntry{ExpiresAt: expiresAt})
	if err != nil {
		return false, err
	}
	if err := s.Put(ctx, entry); err != nil {
		return false, fmt.Errorf("writing nonce: %w", err)
	}
	return true, nil
}
