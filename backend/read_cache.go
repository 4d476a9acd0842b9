package backend

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
)

// readCache keeps decoded copies of the few entries every login reads and
// almost nothing writes: the config, the keyring and the roles. Without it
// a login makes five storage reads, each a round trip from the plugin
// process to Vault; with it, two (the client and its entropy).
//
// Every write of a cached key goes through storeCached, which invalidates
// it, and Vault calls InvalidateFunc for keys that change under it
// (replication). Cached values are shared: callers must not modify them.
type readCache struct {
	mu sync.Mutex
	// epoch counts invalidations, so that a read that started before one
	// does not cache the value it replaced.
	epoch   uint64
	entries map[string]any
}

func newReadCache() *readCache { return &readCache{entries: map[string]any{}} }

// cachedKey reports whether key is one the cache holds.
func cachedKey(key string) bool {
	return key == configStorageKey || key == keyringStorageKey || strings.HasPrefix(key, rolePrefix)
}

// get returns the cached value of key, or loads it with load and caches
// it. A nil value (no entry in storage) is not cached: anyone can name a
// role that does not exist, and the cache must not grow with them.
func get[T any](ctx context.Context, c *readCache, key string, load func() (*T, error)) (*T, error) {
	c.mu.Lock()
	v, ok := c.entries[key]
	epoch := c.epoch
	c.mu.Unlock()
	if ok {
		return v.(*T), nil
	}
	loaded, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch && loaded != nil {
		c.entries[key] = loaded
	}
	return loaded, nil
}

// invalidate forgets key.
func (c *readCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.entries, key)
}

// storeCached writes rec under key, one of the keys the cache holds
// (config, keyring, a role), or deletes key when rec is nil, and then
// forgets the cached value. It forgets it even after a failed write: a
// write that returned an error may still have landed (a timeout after the
// storage committed it), and the cache would otherwise go on serving the
// value it replaced until the next write.
func (b *entropyBackend) storeCached(ctx context.Context, s logical.Storage, key string, rec versioned) error {
	var err error
	if rec == nil {
		err = s.Delete(ctx, key)
	} else {
		err = putRecord(ctx, s, key, rec)
	}
	b.cache.invalidate(key)
	return err
}

// invalidateFunc is the backend's InvalidateFunc.
func (b *entropyBackend) invalidateFunc(_ context.Context, key string) {
	switch {
	case cachedKey(key):
		b.cache.invalidate(key)
	case strings.HasPrefix(key, clientPrefix):
		b.clients.invalidate(key)
	}
}

// The login path's reads of the cached entries. Everything that changes an
// entry reads it fresh from storage instead (config, keyring, role), and
// writes it with storeCached.

func (b *entropyBackend) cachedConfig(ctx context.Context, s logical.Storage) (*configEntry, error) {
	return get(ctx, b.cache, configStorageKey, func() (*configEntry, error) { return b.config(ctx, s) })
}

func (b *entropyBackend) cachedKeyring(ctx context.Context, s logical.Storage) (*keyring, error) {
	return get(ctx, b.cache, keyringStorageKey, func() (*keyring, error) { return readKeyring(ctx, s) })
}

func (b *entropyBackend) cachedRole(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	return get(ctx, b.cache, roleStorageKey(name), func() (*roleEntry, error) { return b.role(ctx, s, name) })
}
