package backend

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// clientCache keeps recently used clients' records with their entropy in
// the plugin's memory, so that a login reads nothing from storage: each
// read is a round trip to Vault over gRPC, with the entry decrypted by
// Vault's barrier and copied across the process boundary, and it was most
// of what a login cost (docs/performance.md).
//
// It holds secrets: every cached client's entropy, as the plugin already
// holds the server's private keys. Whoever can read the plugin's memory
// can read both; the cache makes that true of the cached clients at any
// moment rather than of the one logging in. Its size is bounded
// (maxBytes, config client_cache_size) and 0 turns it off; docs/operator.md
// weighs it.
//
// Coherence: every write of a client goes through putClient or
// nonLockedDeleteClient under the client's lock, which store or
// invalidate its entry here; Vault calls Invalidate for keys written by
// another node (performance standbys, replication). A read that misses
// loads from storage and adds what it read only if nothing was stored or
// invalidated since it began (the epoch), so a slow read can never put
// back a value a write replaced. Entries are never modified: get hands out
// copies, which share the entropy (never modified in place either).
type clientCache struct {
	// limit mirrors maxBytes for resize's check without the lock.
	limit    atomic.Int64
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	epoch    uint64
	lru      *list.List // of *cachedClient, most recently used first
	byKey    map[string]*list.Element
}

type cachedClient struct {
	key   string
	c     *clientEntry
	bytes int64
}

// cachedClientOverhead approximates the memory of a record beyond its
// entropy, so that a cache of tiny entropy is bounded too.
const cachedClientOverhead = 1024

func newClientCache(maxBytes int64) *clientCache {
	cc := &clientCache{maxBytes: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}}
	cc.limit.Store(maxBytes)
	return cc
}

// resize sets the cache's bound to the config's, evicting down to it; the
// login path calls it with the config it read, so a change made on another
// node applies too. Cheap when the bound is unchanged.
func (cc *clientCache) resize(maxBytes int64) {
	if cc.limit.Load() == maxBytes {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.maxBytes = maxBytes
	cc.limit.Store(maxBytes)
	cc.evict()
}

// get returns a copy of key's cached client, or nil.
func (cc *clientCache) get(key string) *clientEntry {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.byKey[key]
	if !ok {
		return nil
	}
	cc.lru.MoveToFront(e)
	return e.Value.(*cachedClient).c.copy()
}

// epochNow is the epoch a read that is about to load from storage passes
// to add.
func (cc *clientCache) epochNow() uint64 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.epoch
}

// add caches c, read from storage at key, unless anything was stored or
// invalidated since epoch. c must not be modified afterwards.
func (cc *clientCache) add(key string, c *clientEntry, epoch uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.epoch != epoch {
		return
	}
	cc.set(key, c)
}

// store caches c, just written at key. c must not be modified afterwards.
func (cc *clientCache) store(key string, c *clientEntry) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.epoch++
	cc.set(key, c)
}

// invalidate forgets key.
func (cc *clientCache) invalidate(key string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.epoch++
	cc.remove(key)
}

// clear forgets everything (the mount is unloaded or the cache resized to
// nothing).
func (cc *clientCache) clear() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.epoch++
	cc.lru.Init()
	cc.byKey = map[string]*list.Element{}
	cc.bytes = 0
}

func (cc *clientCache) set(key string, c *clientEntry) {
	cc.remove(key)
	if cc.maxBytes <= 0 {
		return
	}
	n := int64(len(c.entropy.raw())+len(c.pendingEntropy.raw())+len(c.supersededEntropy.raw())) + cachedClientOverhead
	if n > cc.maxBytes {
		return // it would evict everything else, itself included
	}
	cc.byKey[key] = cc.lru.PushFront(&cachedClient{key: key, c: c, bytes: n})
	cc.bytes += n
	cc.evict()
}

func (cc *clientCache) remove(key string) {
	if e, ok := cc.byKey[key]; ok {
		cc.bytes -= e.Value.(*cachedClient).bytes
		cc.lru.Remove(e)
		delete(cc.byKey, key)
	}
}

// evict drops the least recently used clients until the cache fits.
func (cc *clientCache) evict() {
	for cc.bytes > cc.maxBytes && cc.lru.Len() > 0 {
		cc.remove(cc.lru.Back().Value.(*cachedClient).key)
	}
}

// stats is the number of cached clients and their size in bytes.
func (cc *clientCache) stats() (clients int, bytes int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.lru.Len(), cc.bytes
}
