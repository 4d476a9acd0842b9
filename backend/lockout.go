package backend

import (
	"errors"
	"net/netip"

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
// wrong ranges (a version 1 proof carries them; in version 2 a wrong
// sampling is a wrong digest, and counts) or a forged challenge test
// nothing the caller could not know, and the client library relies on a refused pending generation not
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

// sourceLocked reports whether the login's source is locked out of the
// client. It needs only memory, so the login checks it before any key
// lookup or decryption.
func (b *entropyBackend) sourceLocked(l *login) bool {
	return b.lockout.locked(l.in.role, l.in.clientID, lockoutSource(l.remoteAddr), l.now)
}

// recordFailure counts a proof that failed the digest comparison against
// its source, in memory only: a failed guess writes nothing to storage.
// With lockout disabled it counts nothing.
func (b *entropyBackend) recordFailure(l *login) {
	c, r, now := l.client, l.role, l.now
	if r.LockoutThreshold <= 0 {
		return
	}
	out := b.lockout.fail(c.Role, c.ClientID, lockoutSource(l.remoteAddr), now, lockoutPolicy{
		threshold: r.LockoutThreshold, counterReset: r.LockoutCounterReset, duration: r.LockoutDuration,
	})
	if out.locked {
		b.Logger().Warn("source locked out of the client after failed proofs", "role", c.Role, "client_id", c.ClientID,
			"remote_addr", l.remoteAddr, "source", out.source, "failures", out.failures,
			"locked_until", formatTime(now.Add(r.LockoutDuration)))
	}
	if out.underAttack {
		b.Logger().Error("client under online attack: failed proofs from many sources; the client is not locked",
			"role", c.Role, "client_id", c.ClientID, "failures", out.clientFailures, "sources", out.sources,
			"window", r.LockoutCounterReset.String())
	}
	if out.full {
		b.Logger().Error("lockout table full: failed proofs from new sources are not counted until entries expire",
			"entries", b.lockout.max, "role", c.Role, "client_id", c.ClientID, "remote_addr", l.remoteAddr)
	}
}
