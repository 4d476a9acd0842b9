package backend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// claimNonce writes a record of a fresh random nonce issued at the given
// time, the way builds before the memory nonce store did at each login.
func claimNonce(t testing.TB, b *entropyBackend, s logical.Storage, issuedAt time.Time) [32]byte {
	t.Helper()
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	entry, err := logical.StorageEntryJSON(nonceStorageKey(id, issuedAt), map[string]time.Time{"expires_at": nonceExpiry(issuedAt)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), entry); err != nil {
		t.Fatal(err)
	}
	return id
}

// countNonces counts the nonce records in storage.
func countNonces(t testing.TB, s logical.Storage) int {
	t.Helper()
	ctx := context.Background()
	buckets, err := s.List(ctx, noncePrefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, bucket := range buckets {
		ids, err := s.List(ctx, noncePrefix+bucket)
		if err != nil {
			t.Fatal(err)
		}
		n += len(ids)
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

func TestTidyNonceBucketBoundary(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	// Start on a bucket's first second, so that the bucket's end is known.
	clock.t = time.Unix(1_800_000_000/60*60, 0)
	start := clock.now()
	old := claimNonce(t, b, s, start)
	claimNonce(t, b, s, start.Add(59*time.Second)) // the same bucket's last second
	claimNonce(t, b, s, start.Add(60*time.Second)) // the next bucket

	// The bucket is dead once its last possible record has expired.
	dead := nonceExpiry(start.Add(nonceBucket))
	clock.t = dead.Add(-time.Second)
	if res := mustTidy(t, b, s); res.NoncesDeleted != 0 || countNonces(t, s) != 3 {
		t.Fatalf("a second early: deleted %d, left %d", res.NoncesDeleted, countNonces(t, s))
	}
	// Until then a replay of the oldest nonce is still refused.
	if err := legacyClaimed(context.Background(), s, old, start); !errors.Is(err, protocol.ErrReplay) {
		t.Fatalf("replay before the bucket died: %v", err)
	}
	clock.t = dead
	if res := mustTidy(t, b, s); res.NoncesDeleted != 2 || countNonces(t, s) != 1 {
		t.Fatalf("at the boundary: deleted %d, left %d", res.NoncesDeleted, countNonces(t, s))
	}
	// The newest record deleted belongs to a proof that fails the time
	// check under the largest skew the config allows: no replay can pass.
	if age := clock.now().Sub(start.Add(59 * time.Second)); age <= maxClockSkew {
		t.Fatalf("deleted a record %s old", age)
	}
	clock.t = dead.Add(nonceBucket)
	if res := mustTidy(t, b, s); res.NoncesDeleted != 1 || countNonces(t, s) != 0 {
		t.Fatalf("next bucket: deleted %d, left %d", res.NoncesDeleted, countNonces(t, s))
	}
}

func TestTidyIgnoresForeignNonceKeys(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	for _, k := range []string{noncePrefix + "x", noncePrefix + "not-a-bucket/a", noncePrefix + "99999999999999999999/a"} {
		if err := s.Put(context.Background(), &logical.StorageEntry{Key: k, Value: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(24 * time.Hour)
	if res := mustTidy(t, b, s); res.NoncesDeleted != 0 {
		t.Fatalf("deleted %d keys that are not nonce buckets", res.NoncesDeleted)
	}
}

// TestTidyBoundsNonceStorage runs a sustained stream of accepted nonces
// for hours of a moving clock, with the periodic function called every
// minute as Vault does: the number of nonce records never exceeds what the
// skew window and the tidy interval allow, however long the stream runs.
func TestTidyBoundsNonceStorage(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	const (
		perSecond = 2
		duration  = 3 * time.Hour
		tick      = time.Minute // Vault's periodic interval
	)
	// A record lives until its bucket is dead: at most a bucket's width and
	// the expiry after the end of the bucket, plus one tick between tidies.
	window := nonceBucket + maxClockSkew + nonceMargin + tick
	bound := int(window/time.Second) * perSecond

	req := &logical.Request{Storage: s}
	peak, deleted := 0, 0
	for elapsed := time.Duration(0); elapsed < duration; elapsed += time.Second {
		for range perSecond {
			claimNonce(t, b, s, clock.now())
		}
		clock.advance(time.Second)
		if elapsed%tick == 0 {
			before := countNonces(t, s)
			if err := b.periodicFunc(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			after := countNonces(t, s)
			deleted += before - after
			peak = max(peak, before)
		}
	}
	claimed := int(duration/time.Second) * perSecond
	if peak > bound {
		t.Fatalf("%d nonce records at peak; the bound is %d", peak, bound)
	}
	if deleted < claimed-bound {
		t.Fatalf("tidy deleted %d of %d records", deleted, claimed)
	}
	t.Logf("%d claims over %s: peak %d records (bound %d)", claimed, duration, peak, bound)
}

func TestTidyAbandonedEntropy(t *testing.T) {
	b, s := getTestBackend(t)
	ctx := context.Background()
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"entropy_size": 4096, "sample_count": 4})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "b"})

	// a is at generation 3 with 4 pending and 2 superseded; generations 1
	// and 5 are abandoned, and so is a key that only looks like 3.
	c := readClient(t, b, s, "web", "a")
	c.Generation, c.PendingGeneration, c.SupersededGeneration = 3, 4, 2
	if err := b.putClientRecord(ctx, s, c); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		if err := s.Put(ctx, &logical.StorageEntry{Key: key, Value: []byte("entropy"), SealWrap: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []uint64{2, 3, 4, 5} {
		put(entropyStorageKey("web", "a", g))
	}
	put(entropyPrefix + "web/a/03")
	// Entropy whose client record is gone (a deletion that stopped).
	put(entropyStorageKey("web", "ghost", 1))
	put(entropyStorageKey("web", "ghost", 2))
	put(entropyStorageKey("gone", "x", 1))
	bBefore := storageSnapshot(t, s)[entropyStorageKey("web", "b", 1)]

	res := mustTidy(t, b, s)
	if res.EntropyDeleted != 6 || res.ClientsDeleted != 0 || res.NoncesDeleted != 0 {
		t.Fatalf("result %+v", res)
	}
	if got := strings.Join(entropyGenerations(t, s, "web", "a"), ","); got != "2,3,4" {
		t.Fatalf("a's generations after tidy: %s", got)
	}
	for _, dir := range []string{"web/ghost/", "gone/x/"} {
		if left, _ := s.List(ctx, entropyPrefix+dir); len(left) != 0 {
			t.Fatalf("%s left: %v", dir, left)
		}
	}
	if after := storageSnapshot(t, s)[entropyStorageKey("web", "b", 1)]; after != bBefore {
		t.Fatal("b's entropy changed")
	}
	if readClient(t, b, s, "web", "a").Generation != 3 {
		t.Fatal("a's record changed")
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
	orphan := &clientEntry{ClientID: "o", Role: "deleted", Generation: 1, CreatedAt: clock.now()}
	if err := b.putClient(ctx, s, orphan, []byte("entropy")); err != nil {
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
	want := []string{"client/forever/f", "client/web/new", "entropy/forever/f/1", "entropy/web/new/1"}
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
// entries, three entropy generations and the nonces of one skew window.
func TestStorageBoundedUnderLogins(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"rotation_period": "5m"})
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{
		"key_rotation_period": "30m", "key_grace_period": "15m",
	})
	const (
		every    = 20 * time.Second
		duration = 2 * time.Hour
	)
	// config, keyring, role, client record, and at most the current,
	// pending and superseded generations.
	const fixed = 4 + 3
	window := nonceBucket + maxClockSkew + nonceMargin + time.Minute
	bound := fixed + int(window/every) + 1

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
