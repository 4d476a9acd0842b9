package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func loginPolicies(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) []string {
	t.Helper()
	resp := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	return resp.Auth.Policies
}

func TestLoginSeesEveryChangeThroughTheBackend(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	if got := loginPolicies(t, b, s, c); !slices.Equal(got, []string{"web-read"}) {
		t.Fatalf("policies %v", got)
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-write"})
	if got := loginPolicies(t, b, s, c); !slices.Equal(got, []string{"web-write"}) {
		t.Fatalf("after a role update: policies %v", got)
	}
	mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
	if resp, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t)); err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("after the role was deleted: resp=%v err=%v", resp, err)
	}

	// A new current key, and the client's key retired with no grace: the
	// cached keyring must not keep accepting it.
	b, s, c = setupLogin(t, nil)
	loginPolicies(t, b, s, c)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "0s"})
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	if resp, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t)); err != nil || !resp.IsError() {
		t.Fatalf("a retired key after rotation: resp=%v err=%v", resp, err)
	}
}

func TestInvalidateFuncDropsEntriesChangedUnderTheBackend(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	loginPolicies(t, b, s, c)
	// A change that does not go through this backend (replication writes
	// storage directly) is not seen until Vault invalidates the key.
	r, err := b.role(context.Background(), s, "web")
	if err != nil {
		t.Fatal(err)
	}
	r.TokenPolicies = []string{"replicated"}
	entry, _ := logical.StorageEntryJSON(roleStorageKey("web"), r)
	if err := s.Put(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	if got := loginPolicies(t, b, s, c); !slices.Equal(got, []string{"web-read"}) {
		t.Fatalf("the role is not cached: policies %v", got)
	}
	b.invalidateFunc(context.Background(), roleStorageKey("web"))
	if got := loginPolicies(t, b, s, c); !slices.Equal(got, []string{"replicated"}) {
		t.Fatalf("after invalidation: policies %v", got)
	}
}

func TestReadCacheDropsAValueInvalidatedWhileItLoaded(t *testing.T) {
	c := newReadCache()
	stale := "old"
	got, err := get(context.Background(), c, "role/web", func() (*string, error) {
		c.invalidate("role/web") // a write lands while the read is in flight
		return &stale, nil
	})
	if err != nil || *got != "old" {
		t.Fatalf("get = %v, %v", got, err)
	}
	fresh := "new"
	got, _ = get(context.Background(), c, "role/web", func() (*string, error) { return &fresh, nil })
	if *got != "new" {
		t.Fatal("cached a value read before an invalidation")
	}
	// Now it is cached: the loader is not called.
	got, _ = get(context.Background(), c, "role/web", func() (*string, error) { t.Fatal("loaded again"); return nil, nil })
	if *got != "new" {
		t.Fatalf("get = %v", *got)
	}
}

// countingStorage counts reads, each a round trip from the plugin to Vault,
// and writes.
type countingStorage struct {
	logical.Storage
	gets, puts int
	// written counts puts by key.
	written map[string]int
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.gets++
	return c.Storage.Get(ctx, key)
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.puts++
	if c.written == nil {
		c.written = map[string]int{}
	}
	c.written[e.Key]++
	return c.Storage.Put(ctx, e)
}

// clientPuts counts the writes of one client's entries: its record and any
// entropy entry of its own.
func (c *countingStorage) clientPuts(role, id string) int {
	n := 0
	for k, v := range c.written {
		if k == clientStorageKey(role, id) || strings.HasPrefix(k, entropyPrefix+role+"/"+id+"/") {
			n += v
		}
	}
	return n
}

// TestLoginStorageReads: a login of a cached client reads nothing from
// storage; with the cache off, one entry (the client with its entropy).
func TestLoginStorageReads(t *testing.T) {
	for _, tc := range []struct {
		cacheSize int64
		want      int
	}{{defaultClientCacheSize, 0}, {0, 1}} {
		t.Run(fmt.Sprintf("client_cache_size=%d", tc.cacheSize), func(t *testing.T) {
			b, s, c := setupLogin(t, nil)
			mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"client_cache_size": tc.cacheSize})
			loginPolicies(t, b, s, c) // fills the caches
			cs := &countingStorage{Storage: s}
			mustOK(t, b, cs, logical.ResolveRoleOperation, "login", c.loginData(t))
			if cs.gets != 0 {
				t.Fatalf("resolving the role read storage %d times", cs.gets)
			}
			mustOK(t, b, cs, logical.UpdateOperation, "login", c.loginData(t))
			if cs.gets != tc.want || cs.clientPuts("web", "agent-1") != 0 {
				t.Fatalf("a login read storage %d times and wrote %v, want %d reads and no client write", cs.gets, cs.written, tc.want)
			}
		})
	}
}

// TestRotationWritesTwice: a rotation costs two writes of the client's
// storage, one when the login that is due is handed the next generation
// and one when the client first proves it; the logins after it, none. The
// only other write is the replay watermark's (nonce.go), at most once per
// interval whatever the logins.
func TestRotationWritesTwice(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	c.clock.advance(time.Hour)
	cs := &countingStorage{Storage: s}
	if r := c.login(t, b, cs); r.Rotation == nil {
		t.Fatal("no rotation issued")
	}
	if n := cs.clientPuts("web", "agent-1"); n != 1 {
		t.Fatalf("issuing a generation wrote %d entries, want 1", n)
	}
	if r := c.login(t, b, cs); r.Generation != 2 {
		t.Fatalf("receipt %+v", r)
	}
	if n := cs.clientPuts("web", "agent-1"); n != 2 {
		t.Fatalf("a rotation wrote %d entries in all, want 2", n)
	}
	c.login(t, b, cs)
	if n := cs.clientPuts("web", "agent-1"); n != 2 {
		t.Fatalf("a login after the rotation wrote: %d entries in all", n)
	}
	for k := range cs.written {
		if k != clientStorageKey("web", "agent-1") && k != watermarkStorageKey {
			t.Errorf("a rotation wrote %s", k)
		}
	}
}

// A replayed proof is refused from the in-memory nonce set: no storage
// read (no client record, no entropy) and so no wait for the client's lock.
func TestReplayRefusedBeforeAnyStorageRead(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	data := c.loginData(t)
	mustOK(t, b, s, logical.UpdateOperation, "login", data)
	cs := &countingStorage{Storage: s}
	// Held by another login of the same client: a replay must not queue
	// behind it.
	lock := b.clientLock(c.role, c.id)
	lock.Lock()
	defer lock.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := request(t, b, cs, logical.UpdateOperation, "login", data)
		done <- err
	}()
	select {
	case err := <-done:
		if err != logical.ErrPermissionDenied {
			t.Fatalf("replay: %v, want permission denied", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a replay waited for the client's lock")
	}
	if cs.gets != 0 {
		t.Fatalf("a replay read storage %d times", cs.gets)
	}
}

// landedThenFailed makes every write and deletion land but report a
// failure, as one that timed out after the storage committed it.
type landedThenFailed struct{ logical.Storage }

var errLandedThenFailed = errors.New("timed out after the write landed")

func (s landedThenFailed) Put(ctx context.Context, e *logical.StorageEntry) error {
	if err := s.Storage.Put(ctx, e); err != nil {
		return err
	}
	return errLandedThenFailed
}

func (s landedThenFailed) Delete(ctx context.Context, key string) error {
	if err := s.Storage.Delete(ctx, key); err != nil {
		return err
	}
	return errLandedThenFailed
}

// TestStoreCachedForgetsEvenAfterAFailedWrite: a write of a cached key
// that reports a failure may have landed, so the cache serves what storage
// holds afterwards, not the value from before.
func TestStoreCachedForgetsEvenAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		key   string
		rec   versioned // nil: a deletion
		check func(t *testing.T, b *entropyBackend, s logical.Storage)
	}{
		"config": {key: configStorageKey, rec: &configEntry{AllowedClockSkew: time.Second, KeySuite: "p256-hkdf-sha256-aes-256-gcm"},
			check: func(t *testing.T, b *entropyBackend, s logical.Storage) {
				if c, err := b.cachedConfig(ctx, s); err != nil || c.AllowedClockSkew != time.Second {
					t.Fatalf("cached config %+v %v", c, err)
				}
			}},
		"keyring": {key: keyringStorageKey, rec: &keyring{},
			check: func(t *testing.T, b *entropyBackend, s logical.Storage) {
				if kr, err := b.cachedKeyring(ctx, s); err != nil || len(kr.Keys) != 0 {
					t.Fatalf("cached keyring %+v %v", kr, err)
				}
			}},
		"role": {key: roleStorageKey("web"), rec: &roleEntry{InstanceID: "next"},
			check: func(t *testing.T, b *entropyBackend, s logical.Storage) {
				if r, err := b.cachedRole(ctx, s, "web"); err != nil || r.InstanceID != "next" {
					t.Fatalf("cached role %+v %v", r, err)
				}
			}},
		"role deleted": {key: roleStorageKey("web"),
			check: func(t *testing.T, b *entropyBackend, s logical.Storage) {
				if r, err := b.cachedRole(ctx, s, "web"); err != nil || r != nil {
					t.Fatalf("cached role %+v %v", r, err)
				}
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s, c := setupLogin(t, nil)
			loginPolicies(t, b, s, c) // caches the config, the keyring and the role
			if err := b.storeCached(ctx, landedThenFailed{s}, tc.key, tc.rec); !errors.Is(err, errLandedThenFailed) {
				t.Fatalf("storeCached: %v", err)
			}
			tc.check(t, b, s)
		})
	}
}
