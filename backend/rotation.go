package backend

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// A client's entropy rotates in band: a login that proves the current
// generation after the role's rotation period is handed the next one,
// sealed in its receipt, and the first login that proves the next one makes
// it current. Until then both are valid, so a client that crashes before
// saving the new generation, or a server that crashes before recording it,
// costs at worst the same pending generation handed out again.

// generationKind is which of its client's generations a proof names.
type generationKind int

const (
	genUnknown generationKind = iota
	genCurrent
	genPending
	genSuperseded
)

func (k generationKind) String() string {
	return [...]string{"unknown", "current", "pending", "superseded"}[k]
}

// generationOf classifies generation g of c and returns the sampling its
// proofs must use.
func (c *clientEntry) generationOf(g uint64) (generationKind, protocol.Sampling) {
	switch {
	case g == 0:
		return genUnknown, protocol.Sampling{}
	case g == c.Generation:
		return genCurrent, protocol.Sampling{Count: c.SampleCount, Length: c.SampleLength}
	case g == c.PendingGeneration:
		return genPending, protocol.Sampling{Count: c.PendingSampleCount, Length: c.PendingSampleLength}
	case g == c.SupersededGeneration:
		return genSuperseded, protocol.Sampling{Count: c.SupersededSampleCount, Length: c.SupersededSampleLength}
	}
	return genUnknown, protocol.Sampling{}
}

// promote makes the pending generation, just proven with entropy of
// pendingSize bytes by a proof issued at provenIssuedAt, current; the
// current one becomes superseded. It returns the generation whose entropy
// nothing needs any more (0 if none).
func (c *clientEntry) promote(pendingSize int, provenIssuedAt time.Time) (obsolete uint64) {
	obsolete = c.SupersededGeneration
	c.SupersededAt = provenIssuedAt
	c.SupersededGeneration = c.Generation
	c.SupersededSampleCount, c.SupersededSampleLength = c.SampleCount, c.SampleLength

	c.Generation = c.PendingGeneration
	c.SampleCount, c.SampleLength = c.PendingSampleCount, c.PendingSampleLength
	c.EntropySize = pendingSize
	c.GenerationCreatedAt = c.PendingCreatedAt
	// A rotation asked for after this generation was issued (say, for a
	// suspected theft) is still owed: the next login rotates again.
	if !c.PendingCreatedAt.Before(c.RotateRequestedAt) {
		c.RotateRequested = false
	}

	c.PendingGeneration, c.PendingCreatedAt = 0, time.Time{}
	c.PendingSampleCount, c.PendingSampleLength = 0, 0
	return obsolete
}

// rotation returns the generation to hand to a login that has just proven
// c's current generation: the pending one again if there is one, else a new
// one if rotation is due, else nil. It reports whether c changed. A new
// generation's entropy is stored before the caller stores the record that
// names it, so that a record never names entropy that is not there.
func (b *entropyBackend) rotation(ctx context.Context, s logical.Storage, c *clientEntry, r *roleEntry, now time.Time) (*protocol.Rotation, bool, error) {
	if c.PendingGeneration != 0 {
		entropy, err := b.entropy(ctx, s, c.Role, c.ClientID, c.PendingGeneration)
		if err != nil {
			return nil, false, err
		}
		if entropy != nil {
			b.Logger().Info("pending entropy generation handed out again (the client did not take it up: it crashed, or another holder of its material logged in)",
				"role", c.Role, "client_id", c.ClientID, "generation", c.PendingGeneration)
			return &protocol.Rotation{
				Generation:   c.PendingGeneration,
				Entropy:      entropy,
				SampleCount:  c.PendingSampleCount,
				SampleLength: c.PendingSampleLength,
			}, false, nil
		}
		// Nobody can have proven entropy that is gone: make it again.
		b.Logger().Warn("pending entropy generation missing from storage; issuing a new one",
			"role", c.Role, "client_id", c.ClientID, "generation", c.PendingGeneration)
	} else if !c.rotationDue(r, now) {
		return nil, false, nil
	}

	sampling := r.sampling()
	if err := sampling.Validate(r.EntropySize); err != nil {
		return nil, false, fmt.Errorf("role %s: %w", c.Role, err)
	}
	entropy := make([]byte, r.EntropySize)
	if _, err := rand.Read(entropy); err != nil {
		return nil, false, err
	}
	next := c.Generation + 1
	entry := &logical.StorageEntry{Key: entropyStorageKey(c.Role, c.ClientID, next), Value: entropy, SealWrap: true}
	if err := s.Put(ctx, entry); err != nil {
		return nil, false, fmt.Errorf("writing entropy: %w", err)
	}
	c.PendingGeneration, c.PendingCreatedAt = next, now
	c.PendingSampleCount, c.PendingSampleLength = sampling.Count, sampling.Length
	b.Logger().Info("entropy generation issued", "role", c.Role, "client_id", c.ClientID, "generation", next)
	return &protocol.Rotation{
		Generation:   next,
		Entropy:      entropy,
		SampleCount:  sampling.Count,
		SampleLength: sampling.Length,
	}, true, nil
}

// deleteEntropy removes one generation of a client's entropy.
func (b *entropyBackend) deleteEntropy(ctx context.Context, s logical.Storage, role, id string, generation uint64) error {
	if err := s.Delete(ctx, entropyStorageKey(role, id, generation)); err != nil {
		return fmt.Errorf("deleting entropy: %w", err)
	}
	return nil
}
