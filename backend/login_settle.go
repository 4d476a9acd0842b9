package backend

import (
	"errors"
	"fmt"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// settle records the outcome of authenticate (checked: its error) and is
// the login's only writer: a failed proof counts toward its source's
// lockout; a verified proof's nonce is claimed; a clone is recorded and
// refused; an accepted proof may promote, issue or hand out again a
// generation and lift a lock that has run out. It returns the receipt of
// an accepted login, to be sealed. The caller holds the client's lock.
func (b *entropyBackend) settle(l *login, checked error) (*protocol.Receipt, error) {
	if checked != nil {
		var refusal *loginRefusal
		if errors.As(checked, &refusal) && testsEntropy(refusal.reason) {
			b.recordFailure(l)
		}
		return nil, checked
	}
	// Claimed before a clone is recorded, so that replaying an accepted
	// proof after a rotation is a replay, not a clone that locks the
	// client.
	if err := b.nonces.claim(l.ctx, l.storage, l.claims.NonceID(), l.claims.IssuedAt(), l.now, l.config.AllowedClockSkew); err != nil {
		if isNonceRefusal(err) {
			return nil, refuse(err)
		}
		return nil, err
	}
	if l.kind == genSuperseded && !l.overlap {
		if err := b.recordClone(l); err != nil {
			return nil, err
		}
		return nil, refuse(errClone)
	}
	receipt := l.claims.NewReceipt(l.role.ChallengeRequired)
	if err := b.recordAccepted(l, receipt); err != nil {
		return nil, err
	}
	if l.claims.Header.KeyID.String() != l.keyring.Keys[0].ID {
		receipt.ServerKeys = publishedKeys(l.keyring)
	}
	return receipt, nil
}

// recordAccepted updates the client for an accepted proof: a proven
// pending generation becomes current, a due rotation is issued into
// receipt, a lock that has run out is lifted. The client (record and
// entropy, one entry) is written once, or not at all if nothing changed:
// a rotation costs one write when it is issued and one when it is proven.
func (b *entropyBackend) recordAccepted(l *login, receipt *protocol.Receipt) error {
	c := l.client
	changed := false
	if l.kind == genSuperseded {
		// Within the overlap (settle): accepted, and nothing changes. No
		// rotation is handed out to a generation the client has moved on
		// from, and a lock was refused before.
		b.Logger().Debug("superseded entropy generation proven within the role's generation_overlap", "role", c.Role, "client_id", c.ClientID,
			"generation", l.claims.Generation(), "current_generation", c.Generation)
		return nil
	}
	if l.claims.Generation() == c.PendingGeneration {
		c.promote(l.claims.IssuedAt(), l.now)
		changed = true
		b.Logger().Info("entropy generation proven; the previous one is superseded", "role", c.Role, "client_id", c.ClientID,
			"generation", c.Generation, "superseded_generation", c.SupersededGeneration)
	}
	rot, issued, err := b.rotation(l)
	if err != nil {
		return err
	}
	receipt.Rotation = rot
	changed = changed || issued
	if c.Locked {
		c.unlock() // a lock that has run out: a proof has succeeded
		changed = true
	}
	if !changed {
		return nil
	}
	return b.putClient(l.ctx, l.storage, c)
}

// A client's entropy rotates in band: a login that proves the current
// generation after the role's rotation period is handed the next one,
// sealed in its receipt, and the first login that proves the next one makes
// it current. Until then both are valid, so a client that crashes before
// saving the new generation, or a server that crashes before recording it,
// costs at worst the same pending generation handed out again.

// rotation returns the generation to hand to a login that has just proven
// its client's current generation: the pending one again if there is one,
// else a new one if rotation is due, else nil. It reports whether it
// issued a new one, changing the record (its entropy is written with it).
func (b *entropyBackend) rotation(l *login) (*protocol.Rotation, bool, error) {
	c, r := l.client, l.role
	if c.PendingOutOfBand {
		// Issued to the deploy pipeline for the next deployment alone: a
		// holder of the current generation (an old copy, or a thief) is not
		// handed it, so a thief is left with a generation that becomes a
		// clone once the overlap ends (path_client_issue.go).
		return nil, false, nil
	}
	if c.PendingGeneration == 0 && c.inOverlap(r, l.now) {
		// Promoting again within the overlap would drop the superseded
		// generation that copies of the previous deployment still prove,
		// and make each of them a clone: the rotation waits for the overlap
		// to end (docs/lifecycle.md).
		return nil, false, nil
	}
	if c.PendingGeneration != 0 {
		if pending := c.pendingEntropy.raw(); pending != nil {
			b.Logger().Info("pending entropy generation handed out again (the client did not take it up: it crashed, or another holder of its material logged in)",
				"role", c.Role, "client_id", c.ClientID, "generation", c.PendingGeneration)
			return &protocol.Rotation{
				Generation:   c.PendingGeneration,
				Entropy:      pending,
				SampleCount:  c.PendingSampleCount,
				SampleLength: c.PendingSampleLength,
			}, false, nil
		}
		// A schema version 1 record whose pending entropy was lost: nobody
		// can have proven entropy that is gone, so make it again.
		b.Logger().Warn("pending entropy generation missing from storage; issuing a new one",
			"role", c.Role, "client_id", c.ClientID, "generation", c.PendingGeneration)
	} else if !c.rotationDue(r, l.now) {
		return nil, false, nil
	}

	if err := c.issuePending(r, l.now); err != nil {
		return nil, false, err
	}
	b.Logger().Info("entropy generation issued", "role", c.Role, "client_id", c.ClientID, "generation", c.PendingGeneration)
	return &protocol.Rotation{
		Generation:   c.PendingGeneration,
		Entropy:      c.pendingEntropy.raw(),
		SampleCount:  c.PendingSampleCount,
		SampleLength: c.PendingSampleLength,
	}, true, nil
}

// recordClone reports a verified proof of a superseded generation and
// applies the role's clone_action.
func (b *entropyBackend) recordClone(l *login) error {
	c, g := l.client, l.claims.Generation()
	action := cloneActionLock
	if !l.role.locksClones() {
		action = cloneActionLog
	}
	b.Logger().Error("clone detected: a superseded entropy generation was proven after its successor",
		"role", c.Role, "client_id", c.ClientID, "generation", g, "current_generation", c.Generation,
		"remote_addr", l.remoteAddr, "clone_action", action)
	if action != cloneActionLock {
		return nil
	}
	c.lock(l.now, time.Time{}, fmt.Sprintf("clone detected: generation %d proven after generation %d", g, c.Generation))
	return b.putClient(l.ctx, l.storage, c)
}

// publishedKeys is the keyring as a receipt carries it to a client whose
// proof was sealed to a key that is no longer current.
func publishedKeys(kr *keyring) []protocol.PublishedKey {
	out := make([]protocol.PublishedKey, len(kr.Keys))
	for i, k := range kr.Keys {
		out[i] = protocol.PublishedKey{KeyID: k.ID, Suite: k.Suite, PublicKey: k.PublicKey, Current: i == 0}
	}
	return out
}
