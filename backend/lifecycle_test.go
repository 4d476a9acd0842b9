package backend

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestRotationIsInBandAndTwoPhase(t *testing.T) {
	b, s, c := setupRotation(t, nil)

	// Within the period: no rotation, no write but the nonce.
	if r := c.login(t, b, s); r.Rotation != nil || r.Generation != 1 {
		t.Fatalf("receipt %+v", r)
	}

	c.clock.advance(10 * time.Minute)
	r := c.login(t, b, s)
	if r.Rotation == nil || r.Rotation.Generation != 2 || len(r.Rotation.Entropy) != defaultEntropySize {
		t.Fatalf("no rotation after the period: %+v", r)
	}
	if bytes.Equal(r.Rotation.Entropy, c.entropy) {
		t.Fatal("the new generation repeats the old entropy")
	}
	rec := readClient(t, b, s, "web", "agent-1")
	if rec.Generation != 1 || rec.PendingGeneration != 2 {
		t.Fatalf("after issuing: generation %d pending %d", rec.Generation, rec.PendingGeneration)
	}

	// The client proves generation 2: it becomes current, 1 superseded.
	if r := c.login(t, b, s); r.Generation != 2 || r.Rotation != nil {
		t.Fatalf("receipt %+v", r)
	}
	rec = readClient(t, b, s, "web", "agent-1")
	if rec.Generation != 2 || rec.PendingGeneration != 0 || rec.SupersededGeneration != 1 {
		t.Fatalf("after proving: %+v", rec)
	}

	// Another period: generation 3; once it is proven, generation 1's
	// entropy goes, and storage holds 2 (superseded) and 3 (current).
	c.clock.advance(10 * time.Minute)
	c.login(t, b, s)
	c.login(t, b, s)
	if got := entropyGenerations(t, s, "web", "agent-1"); strings.Join(got, ",") != "2,3" {
		t.Fatalf("entropy generations in storage: %v", got)
	}
}

func TestRotationSurvivesLostResponses(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	c.clock.advance(time.Hour)

	// The client loses three responses that each carried generation 2
	// (crashes before saving): each time the same generation comes back.
	var first []byte
	for i := 0; i < 3; i++ {
		_, _, r, _ := c.attempt(t, b, s)
		if r == nil || r.Rotation == nil || r.Rotation.Generation != 2 {
			t.Fatalf("attempt %d: %+v", i, r)
		}
		if first == nil {
			first = r.Rotation.Entropy
		} else if !bytes.Equal(first, r.Rotation.Entropy) {
			t.Fatal("a pending generation handed out again differs: a client that saved the first copy would be locked out")
		}
	}
	if got := entropyGenerations(t, s, "web", "agent-1"); len(got) != 2 {
		t.Fatalf("pending generations accumulate: %v", got)
	}
	// It saves the fourth, then loses the response to its first proof of
	// it (the server promoted): it proves generation 2 again, and it works.
	c.login(t, b, s)
	pendingCopy := c.copy()
	_, _, r, _ := c.attempt(t, b, s)
	if r == nil {
		t.Fatal("first proof of the pending generation refused")
	}
	pendingCopy.login(t, b, s)
}

func TestForcedRotation(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"rotation_period": "24h"})
	rec := readClient(t, b, s, "web", "agent-1")
	rec.RotateRequested = true
	if err := b.putClient(context.Background(), s, rec); err != nil {
		t.Fatal(err)
	}
	if r := c.login(t, b, s); r.Rotation == nil {
		t.Fatal("a rotation requested for the client was not issued")
	}
	c.login(t, b, s)
	if rec := readClient(t, b, s, "web", "agent-1"); rec.RotateRequested || rec.Generation != 2 {
		t.Fatalf("after the forced rotation: %+v", rec)
	}

	// A role-wide request (role/<name>/rotate sets RotateBefore).
	r, err := b.role(context.Background(), s, "web")
	if err != nil {
		t.Fatal(err)
	}
	c.clock.advance(time.Second)
	r.RotateBefore = c.clock.now()
	if err := b.putRole(context.Background(), s, "web", r); err != nil {
		t.Fatal(err)
	}
	if r := c.login(t, b, s); r.Rotation == nil || r.Rotation.Generation != 3 {
		t.Fatalf("a role-wide rotation was not issued: %+v", r)
	}
}

func TestRotationTakesUpTheRolesSampling(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"sample_count": 64, "sample_length": 16, "entropy_size": 8192})
	c.clock.advance(time.Hour)
	r := c.login(t, b, s)
	if r.Rotation == nil || r.Rotation.SampleCount != 64 || r.Rotation.SampleLength != 16 || len(r.Rotation.Entropy) != 8192 {
		t.Fatalf("rotation %+v", r.Rotation)
	}
	c.login(t, b, s)
	rec := readClient(t, b, s, "web", "agent-1")
	if rec.SampleCount != 64 || rec.SampleLength != 16 || rec.EntropySize != 8192 {
		t.Fatalf("client after promotion: %+v", rec)
	}
	c.login(t, b, s)
}

func TestCloneDetected(t *testing.T) {
	for _, action := range []string{cloneActionLock, cloneActionLog} {
		t.Run(action, func(t *testing.T) {
			b, s, a := setupRotation(t, map[string]interface{}{"clone_action": action})
			logs := a.logs
			thief := a.copy() // a second holder of the same state
			a.clock.advance(time.Hour)
			a.login(t, b, s) // handed generation 2
			a.login(t, b, s) // proves it: generation 1 is superseded
			a.clock.advance(time.Second)

			thief.mustBeRefused(t, b, s)
			rec := readClient(t, b, s, "web", "agent-1")
			if locked := rec.locked(a.clock.now()); locked != (action == cloneActionLock) {
				t.Fatalf("clone_action %s: locked = %v", action, locked)
			}
			if !strings.Contains(logs.String(), "clone detected") || !strings.Contains(logs.String(), "generation=1") {
				t.Fatalf("no clone event in the log:\n%s", logs)
			}
			if action == cloneActionLock {
				// The honest client is locked too until an operator acts.
				a.mustBeRefused(t, b, s)
				if rec.LockedUntil.IsZero() == false || !strings.Contains(rec.LockReason, "clone") {
					t.Fatalf("lock %+v", rec)
				}
				rec.unlock()
				if err := b.putClient(context.Background(), s, rec); err != nil {
					t.Fatal(err)
				}
			}
			a.login(t, b, s)
		})
	}
}

func TestReplayOfASupersededProofIsNotAClone(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	c.clock.advance(time.Hour)
	proof, _, err := protocol.NewProof(c.proofInput())
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof}
	mustOK(t, b, s, logical.UpdateOperation, "login", data)
	// The client takes up generation 2 by another route (the test's).
	c.login(t, b, s)
	c.login(t, b, s)
	// Someone who captured the first proof replays it: a replay, no lock.
	if _, err := request(t, b, s, logical.UpdateOperation, "login", data); err != logical.ErrPermissionDenied {
		t.Fatalf("replay: %v", err)
	}
	if rec := readClient(t, b, s, "web", "agent-1"); rec.Locked {
		t.Fatalf("a replay locked the client: %s", rec.LockReason)
	}
}

func TestUnknownClientsWriteNothing(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	before := storageSnapshot(t, s)
	for _, id := range []string{"nobody", "agent-2", "x"} {
		ghost := c.copy()
		ghost.id = id
		for i := 0; i < 10; i++ {
			ghost.mustBeRefused(t, b, s)
		}
	}
	if after := storageSnapshot(t, s); !equalSnapshots(before, after) {
		t.Fatalf("proofs for unknown clients wrote: %v", keysOf(after))
	}
}

func TestLockedClientCannotRenew(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	resp := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	rec := readClient(t, b, s, "web", "agent-1")
	rec.lock(c.clock.now(), time.Time{}, "operator")
	if err := b.putClient(context.Background(), s, rec); err != nil {
		t.Fatal(err)
	}
	req := &logical.Request{Operation: logical.RenewOperation, Path: "login", Storage: s, Auth: resp.Auth}
	if _, err := b.HandleRequest(context.Background(), req); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("renewal of a locked client's token: %v, want permission denied", err)
	}
}

func TestKeyGracePeriod(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "1h"})
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	old := c.key

	// Within the grace period a proof to the previous key is accepted, and
	// the receipt carries the new keys.
	stale := c.copy()
	r := stale.login(t, b, s)
	if len(r.ServerKeys) != 2 || !r.ServerKeys[0].Current || stale.key.ID() == old.ID() {
		t.Fatalf("receipt server keys %+v", r.ServerKeys)
	}
	if r := stale.login(t, b, s); r.ServerKeys != nil {
		t.Fatal("keys sent to a client that already has them")
	}

	// After it, the server names the refusal so that the client fetches
	// the keys.
	c.clock.advance(time.Hour)
	proof, _, err := protocol.NewProof(c.proofInput())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof})
	if err != nil || resp == nil || resp.Error() == nil || resp.Error().Error() != protocol.ErrKeyNotAccepted.Error() {
		t.Fatalf("proof to a key past its grace: %s", outcome(resp, err))
	}
}

func TestChallengeMode(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"challenge_required": true})
	challenge := func(n *protocol.Nonce) []byte {
		key, err := b.challengeKey(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := protocol.NewChallenge(key, c.role, c.id, n.Commitment(), c.clock.now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	send := func(in protocol.ProofInput) (*logical.Response, error) {
		proof, _, err := protocol.NewProof(in)
		if err != nil {
			t.Fatal(err)
		}
		return request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof})
	}

	// Without a challenge a valid proof is told what to do; storage is
	// unchanged (the nonce is not claimed).
	before := storageSnapshot(t, s)
	resp, err := send(c.proofInput())
	if err != nil || resp.Error() == nil || resp.Error().Error() != protocol.ErrChallengeRequired.Error() {
		t.Fatalf("proof without a challenge: %s", outcome(resp, err))
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatal("a proof refused for want of a challenge wrote")
	}
	// A wrong entropy without a challenge learns nothing.
	bad := c.copy()
	bad.entropy = bytes.Repeat([]byte{1}, len(c.entropy))
	if resp, err := send(bad.proofInput()); err != logical.ErrPermissionDenied {
		t.Fatalf("bad proof without challenge: %s", outcome(resp, err))
	}

	withChallenge := func(mutate func(*protocol.Nonce) []byte) protocol.ProofInput {
		in := c.proofInput()
		n, _ := protocol.NewNonce()
		in.Nonce = n
		in.Challenge = mutate(n)
		return in
	}
	if resp, err := send(withChallenge(challenge)); err != nil || resp.Auth == nil {
		t.Fatalf("proof with a challenge: %s", outcome(resp, err))
	}
	other, _ := protocol.NewNonce()
	cases := map[string]func(*protocol.Nonce) []byte{
		"challenge for another nonce": func(*protocol.Nonce) []byte { return challenge(other) },
		"forged challenge":            func(*protocol.Nonce) []byte { return make([]byte, protocol.ChallengeSize) },
		"expired challenge": func(n *protocol.Nonce) []byte {
			ch := challenge(n)
			c.clock.advance(2 * time.Minute)
			return ch
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			if resp, err := send(withChallenge(mk)); err != logical.ErrPermissionDenied {
				t.Fatalf("%s", outcome(resp, err))
			}
		})
	}
}

func TestRotationRequestedAfterIssueIsStillOwed(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	c.clock.advance(time.Hour)
	c.login(t, b, s) // generation 2 issued, pending
	c.clock.advance(time.Second)
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/agent-1/rotate", nil)
	// Proving generation 2 does not satisfy a request made after it was
	// issued: the same login is handed generation 3.
	if r := c.login(t, b, s); r.Generation != 2 || r.Rotation == nil || r.Rotation.Generation != 3 {
		t.Fatalf("receipt %+v", r)
	}
	c.login(t, b, s)
	if rec := readClient(t, b, s, "web", "agent-1"); rec.RotateRequested || rec.Generation != 3 {
		t.Fatalf("after the owed rotation: generation %d, rotate_requested %v", rec.Generation, rec.RotateRequested)
	}
}

func TestCloneDetectedInChallengeModeWithoutAChallenge(t *testing.T) {
	b, s, a := setupRotation(t, nil)
	thief := a.copy()
	a.clock.advance(time.Hour)
	a.login(t, b, s)
	a.login(t, b, s) // generation 2 proven, 1 superseded
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"challenge_required": true})
	a.clock.advance(time.Second)
	// The thief's proof of generation 1 carries no challenge: it is still
	// a clone, not a request to come back with a challenge.
	thief.mustBeRefused(t, b, s)
	if rec := readClient(t, b, s, "web", "agent-1"); !rec.Locked || !strings.Contains(rec.LockReason, "clone") {
		t.Fatalf("not locked as a clone: %+v", rec.LockReason)
	}
}
