package backend

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// errClientLocked refuses a client an operator or a clone locked, before
// its proof is looked at.
var errClientLocked = errors.New("client is locked")

// errSourceLocked refuses a source that made lockout_threshold failed
// proofs for the client, before its proof is opened.
var errSourceLocked = errors.New("source address is locked out of the client after failed proofs")

// errClone refuses a proof made from a superseded generation: the
// generation after it has been proven, so two parties hold the material.
var errClone = errors.New("proof is made from a superseded entropy generation: the client's material has been copied")

// testsEntropy tells which refusals count toward a source's lockout: only
// the digest comparison tests a guess of the entropy. A wrong generation,
// wrong ranges or a forged challenge test nothing the caller could not
// know, and the client library relies on a refused pending generation not
// counting (it falls back to its current one); clock, replay and address
// refusals do not count either.
func testsEntropy(reason error) bool { return errors.Is(reason, protocol.ErrDigest) }

// lockoutSource is the source a failed proof is counted against: the
// remote address, IPv4 as a /32 and IPv6 as its /64 (one host usually
// holds a whole /64, so counting single IPv6 addresses would give it 2^64
// sources). An address Vault did not give in a form netip reads is one
// source, "unknown".
func lockoutSource(remoteAddr string) string {
	addr, err := netip.ParseAddr(remoteAddr)
	if err != nil {
		ap, perr := netip.ParseAddrPort(remoteAddr)
		if perr != nil {
			return "unknown"
		}
		addr = ap.Addr()
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// checkSource refuses a source locked out of the client. It needs only the
// request and memory, so the login makes it before any key lookup or
// decryption.
func (b *entropyBackend) checkSource(req *logical.Request, role, clientID string) error {
	if b.lockout.locked(role, clientID, lockoutSource(remoteAddr(req)), b.now()) {
		return refuse(errSourceLocked)
	}
	return nil
}

// recordFailure counts a proof that failed the digest comparison against
// its source, in memory only: a failed guess writes nothing to storage.
// With lockout disabled it counts nothing.
func (b *entropyBackend) recordFailure(req *logical.Request, c *clientEntry, r *roleEntry, now time.Time) {
	if r.LockoutThreshold <= 0 {
		return
	}
	addr := remoteAddr(req)
	out := b.lockout.fail(c.Role, c.ClientID, lockoutSource(addr), now, lockoutPolicy{
		threshold: r.LockoutThreshold, counterReset: r.LockoutCounterReset, duration: r.LockoutDuration,
	})
	if out.locked {
		b.Logger().Warn("source locked out of the client after failed proofs", "role", c.Role, "client_id", c.ClientID,
			"remote_addr", addr, "source", out.source, "failures", out.failures,
			"locked_until", formatTime(now.Add(r.LockoutDuration)))
	}
	if out.underAttack {
		b.Logger().Error("client under online attack: failed proofs from many sources; the client is not locked",
			"role", c.Role, "client_id", c.ClientID, "failures", out.clientFailures, "sources", out.sources,
			"window", r.LockoutCounterReset.String())
	}
	if out.full {
		b.Logger().Error("lockout table full: failed proofs from new sources are not counted until entries expire",
			"entries", b.lockout.max, "role", c.Role, "client_id", c.ClientID, "remote_addr", addr)
	}
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
