package backend

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// abandonEntropy stores an entropy generation that no client record names,
// as a deletion that stopped half-way leaves it: the next tidy removes it.
func abandonEntropy(t testing.TB, s logical.Storage, id string) {
	t.Helper()
	if err := s.Put(context.Background(), &logical.StorageEntry{Key: legacyEntropyKey("gone", id, 1), Value: []byte("entropy"), SealWrap: true}); err != nil {
		t.Fatal(err)
	}
}

// abandoned counts the generations abandonEntropy stored that are left.
func abandoned(t testing.TB, s logical.Storage) int {
	t.Helper()
	n := 0
	for k := range storageSnapshot(t, s) {
		if strings.HasPrefix(k, entropyPrefix+"gone/") {
			n++
		}
	}
	return n
}

func mustTidy(t testing.TB, b *entropyBackend, s logical.Storage) *tidyResult {
	t.Helper()
	res, err := b.tidy(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// putLegacyClient stores c as schema version 1 did: the record alone, and
// each generation's entropy in an entry of its own.
func putLegacyClient(t testing.TB, s logical.Storage, c *clientEntry, entropy map[uint64][]byte) {
	t.Helper()
	ctx := context.Background()
	c.SchemaVersion = 1
	entry, err := logical.StorageEntryJSON(clientStorageKey(c.Role, c.ClientID), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, entry); err != nil {
		t.Fatal(err)
	}
	for g, e := range entropy {
		if err := s.Put(ctx, &logical.StorageEntry{Key: legacyEntropyKey(c.Role, c.ClientID, g), Value: e, SealWrap: true}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTidyAbandonedEntropy(t *testing.T) {
	b, s := getTestBackend(t)
	ctx := context.Background()
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"entropy_size": 4096, "sample_count": 4})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "b"})

	// legacy is a schema version 1 client at generation 3 with 4 pending
	// and 2 superseded, in entries of their own; generations 1 and 5 are
	// abandoned, and so is a key that only looks like 3.
	legacy := readClient(t, b, s, "web", "a")
	legacy.ClientID = "legacy"
	legacy.Generation, legacy.PendingGeneration, legacy.SupersededGeneration = 3, 4, 2
	e := readClient(t, b, s, "web", "a").entropy.raw()
	putLegacyClient(t, s, legacy, map[uint64][]byte{1: e, 2: e, 3: e, 4: e, 5: e})
	put := func(key string) {
		if err := s.Put(ctx, &logical.StorageEntry{Key: key, Value: []byte("entropy"), SealWrap: true}); err != nil {
			t.Fatal(err)
		}
	}
	put(entropyPrefix + "web/legacy/03")
	// Entropy entries of a client in the one-entry form (a move whose
	// deletion of them was cut short), and of clients whose record is gone.
	put(legacyEntropyKey("web", "a", 1))
	put(legacyEntropyKey("web", "ghost", 1))
	put(legacyEntropyKey("web", "ghost", 2))
	put(legacyEntropyKey("gone", "x", 1))
	bBefore := storageSnapshot(t, s)[clientStorageKey("web", "b")]

	res := mustTidy(t, b, s)
	if res.EntropyDeleted != 7 || res.ClientsDeleted != 0 {
		t.Fatalf("result %+v", res)
	}
	left, _ := s.List(ctx, entropyPrefix+"web/legacy/")
	if got := strings.Join(left, ","); got != "2,3,4" {
		t.Fatalf("legacy's generations after tidy: %s", got)
	}
	for _, dir := range []string{"web/a/", "web/ghost/", "gone/x/"} {
		if left, _ := s.List(ctx, entropyPrefix+dir); len(left) != 0 {
			t.Fatalf("%s left: %v", dir, left)
		}
	}
	if after := storageSnapshot(t, s)[clientStorageKey("web", "b")]; after != bBefore {
		t.Fatal("b changed")
	}
	if readClient(t, b, s, "web", "legacy").Generation != 3 || readClient(t, b, s, "web", "a").entropy == nil {
		t.Fatal("a client's record changed")
	}
	// A second tidy finds nothing.
	if res := mustTidy(t, b, s); !res.empty() {
		t.Fatalf("second tidy: %+v", res)
	}
}

func TestTidyExpiredAndOrphanedClients(t *testing.T) {
	b, s := getTestBackend(t)
	ctx := context.Background()
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"client_ttl": "1h"})
	mustOK(t, b, s, logical.UpdateOperation, "role/forever", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "old-1"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "old-2"})
	enroll(t, b, s, "forever", map[string]interface{}{"client_id": "f"})
	clock.advance(30 * time.Minute)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "new"})
	// A client whose role is gone: a role deletion that stopped half-way.
	orphan := &clientEntry{ClientID: "o", Role: "deleted", Generation: 1, CreatedAt: clock.now(), entropy: newGenerationEntropy([]byte("entropy"))}
	if err := b.putClient(ctx, s, orphan); err != nil {
		t.Fatal(err)
	}

	if res := mustTidy(t, b, s); res.ClientsDeleted != 1 {
		t.Fatalf("before expiry: %+v", res)
	}
	clock.advance(30 * time.Minute) // old-1 and old-2 expire now
	res := mustTidy(t, b, s)
	if res.ClientsDeleted != 2 || res.EntropyDeleted != 0 {
		t.Fatalf("after expiry: %+v", res)
	}
	var left []string
	for k := range storageSnapshot(t, s) {
		if strings.HasPrefix(k, clientPrefix) || strings.HasPrefix(k, entropyPrefix) {
			left = append(left, k)
		}
	}
	want := []string{"client/forever/f", "client/web/new"}
	if !reflect.DeepEqual(keysOf(setOf(left)), want) {
		t.Fatalf("left after tidy: %v", keysOf(setOf(left)))
	}
	// A deleted client cannot come back when its role is created again.
	mustOK(t, b, s, logical.UpdateOperation, "role/deleted", nil)
	if c, _ := b.client(ctx, s, "deleted", "o"); c != nil {
		t.Fatal("orphan survived")
	}
}

func setOf(ss []string) map[string]string {
	m := make(map[string]string, len(ss))
	for _, s := range ss {
		m[s] = ""
	}
	return m
}

// TestTidyBesideLogins runs tidies without pause while clients log in and
// rotate (forced by the operator so that a frozen clock suffices): no login
// is refused, and no client loses the entropy it proves.
func TestTidyBesideLogins(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	clients := []*rotatingClient{c}
	for i := range 3 {
		tc := enroll(t, b, s, "web", map[string]interface{}{"client_id": fmt.Sprintf("agent-%d", i+2)})
		clients = append(clients, &rotatingClient{testClient: tc, clock: c.clock, logs: c.logs})
	}
	done := make(chan struct{})
	tidies := 0
	t.Run("group", func(t *testing.T) {
		t.Run("tidy", func(t *testing.T) {
			t.Parallel()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := b.tidy(context.Background(), s); err != nil {
					t.Error(err)
					return
				}
				tidies++
			}
		})
		t.Run("logins", func(t *testing.T) {
			t.Parallel()
			defer close(done)
			t.Run("clients", func(t *testing.T) {
				for _, rc := range clients {
					t.Run(rc.id, func(t *testing.T) {
						t.Parallel()
						path := "role/web/client/" + rc.id + "/rotate"
						for i := range 30 {
							if i%3 == 0 {
								mustOK(t, b, s, logical.UpdateOperation, path, nil)
							}
							rc.login(t, b, s)
						}
					})
				}
			})
		})
	})
	for _, rc := range clients {
		rec := readClient(t, b, s, "web", rc.id)
		if rc.generation < 5 || rec.Generation != rc.generation {
			t.Errorf("%s: client at %d, server at %d", rc.id, rc.generation, rec.Generation)
		}
	}
	if tidies == 0 {
		t.Fatal("no tidy ran")
	}
}

// TestStorageBoundedUnderLogins runs hours of logins of one client, with
// entropy rotation every few minutes, server key rotation and the periodic
// function called every minute: storage never holds more than the fixed
// entries (the watermark among them) and three entropy generations.
func TestStorageBoundedUnderLogins(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"rotation_period": "5m"})
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{
		"key_rotation_period": "30m", "key_grace_period": "15m",
	})
	const (
		every    = 20 * time.Second
		duration = 2 * time.Hour
	)
	// config, keyring, challenge key, replay watermark, role, client
	// record, and at most the current, pending and superseded generations.
	const bound = 6 + 3

	req := &logical.Request{Storage: s}
	peak, lastTick := 0, c.clock.now()
	keyIDs := map[string]bool{}
	for elapsed := time.Duration(0); elapsed < duration; elapsed += every {
		c.login(t, b, s)
		c.clock.advance(every)
		if c.clock.now().Sub(lastTick) >= time.Minute {
			lastTick = c.clock.now()
			if err := b.periodicFunc(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := logical.CollectKeys(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, len(keys))
		keyIDs[c.key.ID().String()] = true
	}
	if peak > bound {
		t.Fatalf("%d storage entries at peak; the bound is %d", peak, bound)
	}
	if c.generation < 20 || len(keyIDs) < 4 {
		t.Fatalf("the stream did not rotate: generation %d, %d server keys", c.generation, len(keyIDs))
	}
	t.Logf("%d logins: generation %d, %d server keys, peak %d entries (bound %d)",
		int(duration/every), c.generation, len(keyIDs), peak, bound)
}
