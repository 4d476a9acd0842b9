package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// errClientLocked refuses a locked client before its proof is looked at.
var errClientLocked = errors.New("client is locked")

// errClone refuses a proof made from a superseded generation: the
// generation after it has been proven, so two parties hold the material.
var errClone = errors.New("proof is made from a superseded entropy generation: the client's material has been copied")

// countsAsFailure tells which refusals count toward the lockout threshold:
// those that say the caller does not hold the client's material. Clock,
// replay and address refusals do not: an honest client with a wrong clock
// must not lock itself out, and a replay proves nothing new.
func countsAsFailure(reason error) bool {
	for _, e := range []error{protocol.ErrGeneration, protocol.ErrChallenge, protocol.ErrRanges, protocol.ErrDigest} {
		if errors.Is(reason, e) {
			return true
		}
	}
	return false
}

func (r *roleEntry) lockoutDuration() time.Duration {
	if r.LockoutDuration <= 0 {
		return defaultLockoutDuration
	}
	return r.LockoutDuration
}

func (r *roleEntry) lockoutCounterReset() time.Duration {
	if r.LockoutCounterReset <= 0 {
		return defaultLockoutCounterReset
	}
	return r.LockoutCounterReset
}

// recordFailure counts a failed proof for an existing client and locks it
// when the role's threshold is reached within the counter-reset window.
// With lockout disabled it writes nothing. The caller holds the client's
// lock.
func (b *entropyBackend) recordFailure(ctx context.Context, s logical.Storage, req *logical.Request, c *clientEntry, r *roleEntry, now time.Time) error {
	if r.LockoutThreshold <= 0 {
		return nil
	}
	if c.Locked && !c.locked(now) {
		c.unlock() // the lock has run out: a new window starts
	}
	if c.FirstFailureAt.IsZero() || !now.Before(c.FirstFailureAt.Add(r.lockoutCounterReset())) {
		c.FailedLogins, c.FirstFailureAt = 0, now
	}
	c.FailedLogins++
	if c.FailedLogins >= r.LockoutThreshold {
		c.lock(now, now.Add(r.lockoutDuration()), fmt.Sprintf("%d failed proofs within %s", c.FailedLogins, r.lockoutCounterReset()))
		b.Logger().Warn("client locked after failed proofs", "role", c.Role, "client_id", c.ClientID,
			"failed_logins", c.FailedLogins, "locked_until", c.LockedUntil.UTC().Format(time.RFC3339), "remote_addr", remoteAddr(req))
	}
	return b.putClientRecord(ctx, s, c)
}

// recordClone reports a verified proof of a superseded generation and
// applies the role's clone_action. The caller holds the client's lock.
func (b *entropyBackend) recordClone(ctx context.Context, s logical.Storage, req *logical.Request, c *clientEntry, r *roleEntry, generation uint64, now time.Time) error {
	action := cloneActionLock
	if !r.locksClones() {
		action = cloneActionLog
	}
	b.Logger().Error("clone detected: a superseded entropy generation was proven after its successor",
		"role", c.Role, "client_id", c.ClientID, "generation", generation, "current_generation", c.Generation,
		"remote_addr", remoteAddr(req), "clone_action", action)
	if action != cloneActionLock {
		return nil
	}
	c.lock(now, time.Time{}, fmt.Sprintf("clone detected: generation %d proven after generation %d", generation, c.Generation))
	return b.putClientRecord(ctx, s, c)
}
