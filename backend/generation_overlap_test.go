package backend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestGenerationOverlapField(t *testing.T) {
	for _, tc := range []struct {
		value interface{}
		want  int64 // -1: refused
	}{
		{value: "0", want: 0},
		{value: "90s", want: 90},
		{value: 3600, want: 3600},
		{value: "24h", want: 86400},
		{value: "24h1s", want: -1},
		{value: "-1s", want: -1},
		{value: "soon", want: -1},
	} {
		t.Run(fmt.Sprint(tc.value), func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"generation_overlap": "1m"})
			if tc.want < 0 {
				mustFail(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"generation_overlap": tc.value})
				tc.want = 60
			} else {
				mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"generation_overlap": tc.value})
			}
			if got := mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data["generation_overlap"]; got != tc.want {
				t.Fatalf("generation_overlap %v, want %d", got, tc.want)
			}
		})
	}
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	if got := mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data["generation_overlap"]; got != int64(0) {
		t.Fatalf("default generation_overlap %v", got)
	}
}

// A deploy rotates a read-only client: the old deployment keeps proving
// generation 1. Within the overlap its proofs are ordinary logins; after
// it, one is a clone, as without an overlap.
func TestGenerationOverlap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		overlap string
		// after is how long after the first proof of generation 2 the old
		// copy proves generation 1; issuedEarly makes its proof issued a
		// 20 seconds before that first proof (a slow clock, or a proof that
		// took a while to arrive; within the allowed clock skew).
		after       time.Duration
		issuedEarly bool
		accepted    bool
		clone       bool
	}{
		{name: "no overlap, a copy used a second after", overlap: "0", after: time.Second, clone: true},
		{name: "no overlap, a withheld proof", overlap: "0", after: time.Second, issuedEarly: true},
		{name: "no overlap, a copy used within what would be the overlap", overlap: "0", after: 30 * time.Minute, clone: true},
		{name: "within the overlap", overlap: "1h", after: 30 * time.Minute, accepted: true},
		{name: "within the overlap, issued before the promotion", overlap: "1h", after: time.Second, issuedEarly: true, accepted: true},
		{name: "at the last second of the overlap", overlap: "1h", after: time.Hour - time.Second, accepted: true},
		{name: "as the overlap ends", overlap: "1h", after: time.Hour, clone: true},
		{name: "after the overlap", overlap: "1h", after: 2 * time.Hour, clone: true},
		{name: "after a short overlap, issued before the promotion: stale", overlap: "30s", after: 31 * time.Second, issuedEarly: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s, old := setupRotation(t, map[string]interface{}{"generation_overlap": tc.overlap, "rotation_period": "10m"})
			next := deployment(t, old, issue(t, b, s, issuePath))
			old.clock.advance(time.Minute)
			promotedAt := old.clock.now()
			next.login(t, b, s)
			old.clock.advance(tc.after)
			issued := old.clock.now()
			if tc.issuedEarly {
				issued = promotedAt.Add(-20 * time.Second)
			}
			before := old.logs.Len()
			in := old.proofInput()
			in.IssuedAt = issued
			proof, session, err := protocol.NewProof(in)
			if err != nil {
				t.Fatal(err)
			}
			data := map[string]interface{}{"role": "web", "client_id": "agent-1", "proof": proof}
			resp, err := request(t, b, s, logical.UpdateOperation, "login", data)
			rec := readClient(t, b, s, "web", "agent-1")
			logged := old.logs.String()[before:]
			if !tc.accepted {
				if err != logical.ErrPermissionDenied || resp != nil {
					t.Fatalf("old copy: %s, want permission denied", outcome(resp, err))
				}
				if tc.clone != strings.Contains(logged, "clone detected") || tc.clone != rec.Locked {
					t.Fatalf("clone %v: locked %v, log:\n%s", tc.clone, rec.Locked, logged)
				}
				return
			}
			if err != nil || resp == nil || resp.Auth == nil {
				t.Fatalf("old copy within the overlap: %s", outcome(resp, err))
			}
			r, err := session.OpenReceipt(resp.Data["receipt"].(string))
			if err != nil || r.Generation != 1 || r.Rotation != nil {
				t.Fatalf("receipt: %v, generation %d, rotation %v", err, r.Generation, r.Rotation != nil)
			}
			if rec.Locked || rec.Generation != 2 || rec.SupersededGeneration != 1 || rec.PendingGeneration != 0 || strings.Contains(logged, "clone detected") {
				t.Fatalf("after an old copy's login within the overlap: %+v\n%s", rec, logged)
			}
			// Its nonce is claimed: the same proof again is a replay.
			if resp, err := request(t, b, s, logical.UpdateOperation, "login", data); err != logical.ErrPermissionDenied || resp != nil {
				t.Fatalf("a replay within the overlap: %s", outcome(resp, err))
			}
			if rec := readClient(t, b, s, "web", "agent-1"); rec.Locked {
				t.Fatal("a replay within the overlap locked the client")
			}
			// Both deployments go on.
			next.login(t, b, s)
			old.login(t, b, s)
		})
	}
}

// An in-band rotation during the overlap would promote again, dropping the
// generation the old deployment proves: it waits for the overlap to end.
func TestNoInBandRotationWithinTheOverlap(t *testing.T) {
	b, s, old := setupRotation(t, map[string]interface{}{"generation_overlap": "1h", "rotation_period": "10m"})
	next := deployment(t, old, issue(t, b, s, issuePath))
	next.login(t, b, s)
	old.clock.advance(30 * time.Minute) // the rotation period has run out
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/agent-1/rotate", nil)
	if r := next.login(t, b, s); r.Rotation != nil {
		t.Fatal("an in-band rotation was handed out within the overlap")
	}
	old.login(t, b, s)
	old.clock.advance(31 * time.Minute)
	if r := next.login(t, b, s); r.Rotation == nil || r.Rotation.Generation != 3 {
		t.Fatal("no rotation after the overlap ended")
	}
}

// Many copies of one read-only state (parallel CI jobs) log in at once
// across a deploy-time rotation: copies of the old deployment prove
// generation 1 while copies of the new one prove generation 2, in the
// overlap; none is taken for a clone. After the overlap, an old copy is.
func TestConcurrentCopiesAcrossADeployRotation(t *testing.T) {
	b, s, old := setupRotation(t, map[string]interface{}{"generation_overlap": "1h", "rotation_period": "24h"})
	next := deployment(t, old, issue(t, b, s, issuePath))

	const copies, loginsEach = 20, 3
	var wg sync.WaitGroup
	errs := make(chan error, copies*loginsEach)
	for i := range copies {
		c := old.testClient
		if i%2 == 1 {
			c = next.testClient
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range loginsEach {
				if err := readOnlyLogin(b, s, c, old.clock.now()); err != nil {
					errs <- fmt.Errorf("copy %d (generation %d): %w", i, c.generation, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rec := readClient(t, b, s, "web", "agent-1")
	if rec.Locked || rec.Generation != 2 || rec.SupersededGeneration != 1 || strings.Contains(old.logs.String(), "clone detected") {
		t.Fatalf("after the concurrent logins: locked %v (%s), generation %d\n%s", rec.Locked, rec.LockReason, rec.Generation, old.logs.String())
	}

	old.clock.advance(time.Hour + time.Minute)
	if err := readOnlyLogin(b, s, next.testClient, old.clock.now()); err != nil {
		t.Fatalf("a new copy after the overlap: %v", err)
	}
	if err := readOnlyLogin(b, s, old.testClient, old.clock.now()); err == nil {
		t.Fatal("an old copy was accepted after the overlap")
	}
	if !strings.Contains(old.logs.String(), "clone detected") || !readClient(t, b, s, "web", "agent-1").Locked {
		t.Fatalf("an old copy after the overlap was not recorded as a clone:\n%s", old.logs.String())
	}
}

// readOnlyLogin logs c in once, as a read-only client does, checking its
// receipt; safe for concurrent use.
func readOnlyLogin(b *entropyBackend, s logical.Storage, c *testClient, at time.Time) error {
	proof, session, err := protocol.NewProof(protocol.ProofInput{
		ServerKey: c.key, Role: c.role, ClientID: c.id,
		Generation: c.generation, Entropy: c.entropy, Sampling: c.sampling, IssuedAt: at,
	})
	if err != nil {
		return err
	}
	resp, err := b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "login", Storage: s, MountPoint: "auth/entropy/",
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"},
		Data:       map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof},
	})
	if err != nil || resp == nil || resp.Auth == nil {
		return fmt.Errorf("refused: %s", outcome(resp, err))
	}
	r, err := session.OpenReceipt(resp.Data["receipt"].(string))
	if err != nil {
		return err
	}
	if r.Generation != c.generation {
		return fmt.Errorf("receipt names generation %d", r.Generation)
	}
	return nil
}

// The overlap applied is the role's at each login: shortening it ends a
// running one.
func TestShorteningTheOverlapEndsIt(t *testing.T) {
	b, s, old := setupRotation(t, map[string]interface{}{"generation_overlap": "1h"})
	next := deployment(t, old, issue(t, b, s, issuePath))
	next.login(t, b, s)
	old.clock.advance(30 * time.Minute)
	old.login(t, b, s)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"generation_overlap": "10m"})
	old.clock.advance(time.Second)
	old.mustBeRefused(t, b, s)
	if !strings.Contains(old.logs.String(), "clone detected") {
		t.Fatal("a proof after the shortened overlap was not a clone")
	}
}

// A deploy whose store step failed runs the script again: it gets the same
// generation, and the current one stays valid meanwhile.
func TestIssueTwiceBeforeTheDeployGivesTheSameGeneration(t *testing.T) {
	b, s, old := setupRotation(t, nil)
	first := deployment(t, old, issue(t, b, s, issuePath))
	old.login(t, b, s)
	second := deployment(t, old, issue(t, b, s, issuePath))
	if second.generation != 2 || string(second.entropy) != string(first.entropy) {
		t.Fatalf("second issue: generation %d, same entropy %v", second.generation, string(second.entropy) == string(first.entropy))
	}
	second.login(t, b, s)
}
