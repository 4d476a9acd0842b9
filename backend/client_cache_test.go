package backend

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func cacheTestClient(id string, entropyBytes int) *clientEntry {
	return &clientEntry{Role: "web", ClientID: id, Generation: 1, entropy: newGenerationEntropy(make([]byte, entropyBytes))}
}

// TestClientCacheBound: the cache never holds more than its bound, evicts
// the least recently used first, and holds nothing when off.
func TestClientCacheBound(t *testing.T) {
	per := int64(4096 + cachedClientOverhead)
	cc := newClientCache(3 * per)
	for i := range 3 {
		cc.store(fmt.Sprint(i), cacheTestClient(fmt.Sprint(i), 4096))
	}
	cc.get("0") // 1 is now the least recently used
	cc.store("3", cacheTestClient("3", 4096))
	if n, size := cc.stats(); n != 3 || size != 3*per {
		t.Fatalf("%d clients, %d bytes; want 3 and %d", n, size, 3*per)
	}
	if cc.get("1") != nil || cc.get("0") == nil || cc.get("3") == nil {
		t.Fatal("evicted the wrong client")
	}
	// A client larger than the whole cache is not kept at all.
	cc.store("big", cacheTestClient("big", 4*4096))
	if cc.get("big") != nil {
		t.Fatal("a client larger than the bound was cached")
	}
	cc.resize(per)
	if n, _ := cc.stats(); n != 1 {
		t.Fatalf("%d clients after shrinking to one's size", n)
	}
	cc.resize(0)
	cc.store("4", cacheTestClient("4", 1))
	if n, size := cc.stats(); n != 0 || size != 0 {
		t.Fatalf("cache off holds %d clients, %d bytes", n, size)
	}
}

// TestClientCacheStaleReadNotKept: a read that began before a write or an
// invalidation does not put back what it read.
func TestClientCacheStaleReadNotKept(t *testing.T) {
	for name, change := range map[string]func(cc *clientCache){
		"write":        func(cc *clientCache) { cc.store("a", cacheTestClient("a", 16)) },
		"invalidation": func(cc *clientCache) { cc.invalidate("a") },
		"other key":    func(cc *clientCache) { cc.store("b", cacheTestClient("b", 16)) },
	} {
		t.Run(name, func(t *testing.T) {
			cc := newClientCache(1 << 20)
			epoch := cc.epochNow()
			stale := cacheTestClient("a", 16)
			stale.Generation = 7
			change(cc)
			cc.add("a", stale, epoch)
			if got := cc.get("a"); got != nil && got.Generation == 7 {
				t.Fatal("a stale read was cached")
			}
		})
	}
	cc := newClientCache(1 << 20)
	cc.add("a", cacheTestClient("a", 16), cc.epochNow())
	if cc.get("a") == nil {
		t.Fatal("an undisturbed read was not cached")
	}
}

// TestClientCacheHandsOutCopies: changing what get returned changes
// neither the cache nor another caller's copy.
func TestClientCacheHandsOutCopies(t *testing.T) {
	cc := newClientCache(1 << 20)
	cc.store("a", cacheTestClient("a", 16))
	one := cc.get("a")
	one.lock(one.CreatedAt, one.CreatedAt, "test")
	one.Generation = 9
	if two := cc.get("a"); two.Locked || two.Generation != 1 {
		t.Fatalf("a caller's change reached the cache: %+v", two)
	}
}

// TestClientCacheFollowsStorage: what another node writes reaches logins
// through Vault's invalidation, deletion forgets the client, and a write
// that fails leaves nothing cached that storage may not hold.
func TestClientCacheFollowsStorage(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	ctx := context.Background()
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	key := clientStorageKey(c.role, c.id)

	// Another node locks the client: its write reaches this node's
	// storage, then Vault invalidates the key.
	rec := readClient(t, b, s, c.role, c.id)
	rec.lock(b.now(), time.Time{}, "locked on another node")
	entry, err := encodeClientValue(key, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, entry); err != nil {
		t.Fatal(err)
	}
	b.invalidateFunc(ctx, key)
	if resp, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t)); err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("a client locked on another node logged in: %v %v", resp, err)
	}

	mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
	if b.clients.get(key) != nil {
		t.Fatal("a deleted client is still cached")
	}

	failing := &failingPuts{Storage: s}
	b.clients.store(key, rec.copy())
	if err := b.putClient(ctx, failing, rec); err == nil {
		t.Fatal("a failed write reported success")
	}
	if b.clients.get(key) != nil {
		t.Fatal("a failed write left its client cached")
	}
}

type failingPuts struct{ logical.Storage }

func (failingPuts) Put(context.Context, *logical.StorageEntry) error {
	return fmt.Errorf("storage unavailable")
}

// TestClientValueRoundTrip: the one-entry form keeps every generation's
// entropy apart, and a value whose sizes do not match is refused.
func TestClientValueRoundTrip(t *testing.T) {
	c := &clientEntry{Role: "web", ClientID: "a", Generation: 2, PendingGeneration: 3, SupersededGeneration: 1,
		entropy: newGenerationEntropy(bytes.Repeat([]byte{2}, 64)), pendingEntropy: newGenerationEntropy(bytes.Repeat([]byte{3}, 32)),
		supersededEntropy: newGenerationEntropy(bytes.Repeat([]byte{1}, 16))}
	entry, err := encodeClientValue("client/web/a", c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeClientValue(entry)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.entropy.raw(), c.entropy.raw()) || !bytes.Equal(got.pendingEntropy.raw(), c.pendingEntropy.raw()) ||
		!bytes.Equal(got.supersededEntropy.raw(), c.supersededEntropy.raw()) || got.legacyEntropy {
		t.Fatalf("decoded %+v", got)
	}
	for name, v := range map[string][]byte{
		"one byte short":     entry.Value[:len(entry.Value)-1],
		"one byte too many":  append(append([]byte(nil), entry.Value...), 0),
		"no entropy at all":  entry.Value[:bytes.IndexByte(entry.Value, '\n')+1],
		"not json":           []byte("{\n" + string(make([]byte, 112))),
		"record without end": entry.Value[:bytes.IndexByte(entry.Value, '\n')],
	} {
		if _, err := decodeClientValue(&logical.StorageEntry{Key: "client/web/a", Value: v}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// A record naming a pending generation without its entropy is not
	// written.
	c.pendingEntropy = nil
	if _, err := encodeClientValue("client/web/a", c); err == nil {
		t.Fatal("a record naming entropy it lacks was encoded")
	}
}
