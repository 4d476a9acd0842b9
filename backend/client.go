package backend

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// A client's storage, all of it in this file: one entry per client, at
// client/<role>/<client_id>, holding its record (clientEntry, JSON) and the
// entropy of every generation the record names (current, pending,
// superseded), raw, after it (clientValue). One entry, so that a login
// reads one entry (or none: client_cache.go), a rotation writes one entry
// when it issues a generation and one when the client proves it, and a
// record can never name entropy that is not there. Writers hold the
// client's lock (clientLock).
//
// Schema version 1 kept each generation's entropy in an entry of its own,
// at entropy/<role>/<client_id>/<generation>; such a client is read with
// that entropy (legacyEntropy) and moves to the one-entry form at its next
// write, which then deletes those entries.

// clientEntry is an enrolled client's record, and the entropy of the
// generations it names.
type clientEntry struct {
	SchemaVersion int    `json:"schema_version"`
	ClientID      string `json:"client_id"`
	Role          string `json:"role"`
	Generation    uint64 `json:"generation"`
	// EnrollmentID is made at enrollment, RoleInstanceID is the role's
	// InstanceID then, and AliasName is the identity alias of every login,
	// fixed at enrollment: <role>/<client_id>/<enrollment_id>, or
	// <role>/<client_id> with keep_identity (binding.go).
	EnrollmentID   string `json:"enrollment_id"`
	RoleInstanceID string `json:"role_instance_id"`
	AliasName      string `json:"alias_name"`
	// The sampling and size the client was enrolled with: a proof must
	// follow them, whatever the role says now.
	EntropySize  int       `json:"entropy_size"`
	SampleCount  int       `json:"sample_count"`
	SampleLength int       `json:"sample_length"`
	CreatedAt    time.Time `json:"created_at"`
	// ExpiresAt is zero when the client never expires.
	ExpiresAt time.Time `json:"expires_at"`

	// GenerationCreatedAt is when the current generation's entropy was
	// made: its rotation is due the role's rotation_period later.
	GenerationCreatedAt time.Time `json:"generation_created_at"`
	// PendingGeneration is Generation+1 from the login that issued it until
	// the first login that proves it; 0 when none is pending. Until then
	// Generation stays valid, and every login proving Generation is handed
	// the same pending generation again.
	PendingGeneration uint64    `json:"pending_generation"`
	PendingCreatedAt  time.Time `json:"pending_created_at"`
	// A rotation takes up the role's sampling of the day: the pending
	// generation has its own, which becomes the client's when it is proven.
	PendingSampleCount  int `json:"pending_sample_count"`
	PendingSampleLength int `json:"pending_sample_length"`
	// SupersededGeneration is the generation before Generation, whose
	// entropy is kept so that a proof made from it can be verified, and so
	// reported as a clone rather than as noise; 0 when there is none.
	SupersededGeneration   uint64 `json:"superseded_generation"`
	SupersededSampleCount  int    `json:"superseded_sample_count"`
	SupersededSampleLength int    `json:"superseded_sample_length"`
	// SupersededAt is the issued_at of the proof that first proved the
	// current generation, by the client's clock: a proof of the superseded
	// generation issued no later is stale, one issued after it is a clone.
	SupersededAt time.Time `json:"superseded_at"`
	// PromotedAt is when the current generation was first proven, by the
	// server's clock: the superseded generation stays valid for the role's
	// generation_overlap after it (overlapEnds). Zero, as in records
	// promoted before the overlap existed: no overlap.
	PromotedAt time.Time `json:"promoted_at,omitempty"`
	// PendingOutOfBand: the pending generation was issued out of band, to
	// the deploy pipeline (role/<role>/client/<id>/issue), for the next
	// deployment alone; a login is never handed it in its receipt.
	PendingOutOfBand bool `json:"pending_out_of_band,omitempty"`
	// RotateRequested makes the next login rotate, whatever the period.
	// RotateRequestedAt is when it was asked: a pending generation issued
	// before then does not satisfy the request.
	RotateRequested   bool      `json:"rotate_requested"`
	RotateRequestedAt time.Time `json:"rotate_requested_at"`

	// A locked client cannot log in, and its tokens do not renew: an
	// operator's lock or a clone's. A lock with a zero LockedUntil lasts
	// until an operator unlocks the client. Failed proofs are counted per
	// source in memory (lockout.go), never here.
	Locked      bool      `json:"locked"`
	LockedAt    time.Time `json:"locked_at"`
	LockedUntil time.Time `json:"locked_until"`
	LockReason  string    `json:"lock_reason"`

	// The sizes of the pending and superseded generations' entropy (the
	// current one's is EntropySize): where each ends in the stored value.
	PendingEntropySize    int `json:"pending_entropy_size,omitempty"`
	SupersededEntropySize int `json:"superseded_entropy_size,omitempty"`

	// The entropy of each generation the record names, nil for a
	// generation it does not name. Never modified in place: a copy of the
	// record (the cache hands out copies) may share them.
	entropy, pendingEntropy, supersededEntropy *generationEntropy
	// legacyEntropy: read from a schema version 1 record, whose entropy
	// lives in entries of its own until the record's next write.
	legacyEntropy bool
}

// generationEntropy is one generation's entropy and, derived once when a
// receipt first needs it, its entropy key (docs/protocol.md §9.1): hashing
// the whole entropy at every login would cost more than the rest of the
// receipt.
type generationEntropy struct {
	bytes  []byte
	keyOf  sync.Once
	keyVal *protocol.EntropyKey
}

func newGenerationEntropy(b []byte) *generationEntropy {
	if len(b) == 0 {
		return nil
	}
	return &generationEntropy{bytes: b}
}

// raw is the entropy's bytes; nil for a generation without entropy.
func (g *generationEntropy) raw() []byte {
	if g == nil {
		return nil
	}
	return g.bytes
}

// key is the entropy key, derived at the first call.
func (g *generationEntropy) key() *protocol.EntropyKey {
	g.keyOf.Do(func() { g.keyVal = protocol.NewEntropyKey(g.bytes) })
	return g.keyVal
}

func (c *clientEntry) expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// locked reports whether the client is locked at now.
func (c *clientEntry) locked(now time.Time) bool {
	return c.Locked && (c.LockedUntil.IsZero() || now.Before(c.LockedUntil))
}

// lock locks the client until until (zero: until unlocked).
func (c *clientEntry) lock(now, until time.Time, reason string) {
	c.Locked, c.LockedAt, c.LockedUntil, c.LockReason = true, now, until, reason
}

// unlock lifts any lock.
func (c *clientEntry) unlock() {
	c.Locked, c.LockedAt, c.LockedUntil, c.LockReason = false, time.Time{}, time.Time{}, ""
}

// rotationDue reports whether a login at now that proves the current
// generation should be handed the next one.
func (c *clientEntry) rotationDue(r *roleEntry, now time.Time) bool {
	made := c.GenerationCreatedAt
	return c.RotateRequested || !now.Before(made.Add(r.RotationPeriod)) || made.Before(r.RotateBefore)
}

func clientStorageKey(role, id string) string { return clientPrefix + role + "/" + id }

func legacyEntropyKey(role, id string, generation uint64) string {
	return entropyPrefix + role + "/" + id + "/" + strconv.FormatUint(generation, 10)
}

// client returns the client's record with its entropy, or nil if there is
// none: from the cache (client_cache.go), else from storage. The record is
// the caller's own copy.
func (b *entropyBackend) client(ctx context.Context, s logical.Storage, role, id string) (*clientEntry, error) {
	key := clientStorageKey(role, id)
	if c := b.clients.get(key); c != nil {
		return c, nil
	}
	epoch := b.clients.epochNow()
	entry, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading client: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	c, err := decodeClientValue(entry)
	if err != nil {
		return nil, err
	}
	if c.legacyEntropy {
		if err := b.readLegacyEntropy(ctx, s, c); err != nil {
			return nil, err
		}
	}
	b.clients.add(key, c, epoch)
	return c.copy(), nil
}

// copy is a copy of c that shares its (never modified) entropy.
func (c *clientEntry) copy() *clientEntry {
	cp := *c
	return &cp
}

// readLegacyEntropy fills in the entropy of a schema version 1 record from
// its entries; a generation whose entry is missing is left without (the
// callers refuse, or issue a pending generation again).
func (b *entropyBackend) readLegacyEntropy(ctx context.Context, s logical.Storage, c *clientEntry) error {
	read := func(g uint64) (*generationEntropy, error) {
		if g == 0 {
			return nil, nil
		}
		entry, err := s.Get(ctx, legacyEntropyKey(c.Role, c.ClientID, g))
		if err != nil || entry == nil {
			return nil, err
		}
		return newGenerationEntropy(entry.Value), nil
	}
	var err error
	if c.entropy, err = read(c.Generation); err != nil {
		return fmt.Errorf("reading entropy: %w", err)
	}
	if c.pendingEntropy, err = read(c.PendingGeneration); err != nil {
		return fmt.Errorf("reading entropy: %w", err)
	}
	if c.supersededEntropy, err = read(c.SupersededGeneration); err != nil {
		return fmt.Errorf("reading entropy: %w", err)
	}
	c.PendingEntropySize, c.SupersededEntropySize = len(c.pendingEntropy.raw()), len(c.supersededEntropy.raw())
	return nil
}

// putClient stores the client's record and entropy in one write, then,
// for a client read in the schema version 1 form, deletes its old entropy
// entries. The caller holds the client's lock.
func (b *entropyBackend) putClient(ctx context.Context, s logical.Storage, c *clientEntry) error {
	key := clientStorageKey(c.Role, c.ClientID)
	entry, err := encodeClientValue(key, c)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		// The write may or may not have reached storage: read it again
		// next time.
		b.clients.invalidate(key)
		return fmt.Errorf("writing client: %w", err)
	}
	if c.legacyEntropy {
		// The record no longer needs them; tidy deletes what is left if
		// this fails.
		if err := b.deleteLegacyEntropy(ctx, s, c.Role, c.ClientID); err != nil {
			b.Logger().Warn("client moved to the one-entry form; its old entropy entries are left for tidy", "role", c.Role, "client_id", c.ClientID, "error", err)
		}
		c.legacyEntropy = false
	}
	b.clients.store(key, c.copy())
	return nil
}

// updateClient applies change to a client's record under the client's
// lock, re-reading the record after taking it, and writes it. A missing
// client is a 404 error and writes nothing.
func (b *entropyBackend) updateClient(ctx context.Context, s logical.Storage, role, id string, change func(c *clientEntry)) (*clientEntry, error) {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()

	c, err := b.client(ctx, s, role, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errClientNotFound(role, id)
	}
	change(c)
	if err := b.putClient(ctx, s, c); err != nil {
		return nil, err
	}
	return c, nil
}

// errClientNotFound is what operator endpoints answer for a client that
// does not exist. Operators may know which clients exist; callers of the
// unauthenticated endpoints never see this.
func errClientNotFound(role, id string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("client %q does not exist in role %q", id, role))
}

// deleteClient removes a client, with its entropy.
func (b *entropyBackend) deleteClient(ctx context.Context, s logical.Storage, role, id string) error {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()
	return b.nonLockedDeleteClient(ctx, s, role, id)
}

// nonLockedDeleteClient is deleteClient for a caller that holds the
// client's lock. Any entropy entries of the schema version 1 form go
// after the record, so that no record is left naming entropy that is gone.
func (b *entropyBackend) nonLockedDeleteClient(ctx context.Context, s logical.Storage, role, id string) error {
	key := clientStorageKey(role, id)
	err := s.Delete(ctx, key)
	b.clients.invalidate(key)
	if err != nil {
		return fmt.Errorf("deleting client: %w", err)
	}
	return b.deleteLegacyEntropy(ctx, s, role, id)
}

// deleteLegacyEntropy deletes a client's schema version 1 entropy entries.
func (b *entropyBackend) deleteLegacyEntropy(ctx context.Context, s logical.Storage, role, id string) error {
	prefix := entropyPrefix + role + "/" + id + "/"
	gens, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing entropy: %w", err)
	}
	for _, g := range gens {
		if err := s.Delete(ctx, prefix+g); err != nil {
			return fmt.Errorf("deleting entropy: %w", err)
		}
	}
	return nil
}

// entropyOf returns the entropy of the generation of kind k, nil if it has
// none.
func (c *clientEntry) entropyOf(k generationKind) *generationEntropy {
	switch k {
	case genCurrent:
		return c.entropy
	case genPending:
		return c.pendingEntropy
	case genSuperseded:
		return c.supersededEntropy
	}
	return nil
}

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

// issuePending makes generation Generation+1 pending at now, with fresh
// entropy from crypto/rand in r's size and sampling of the day; the caller
// writes the record. Rotation in band (login_settle.go) and out of band
// (path_client_issue.go) both issue through it.
func (c *clientEntry) issuePending(r *roleEntry, now time.Time) error {
	sampling := r.sampling()
	if err := sampling.Validate(r.EntropySize); err != nil {
		return fmt.Errorf("role %s: %w", c.Role, err)
	}
	entropy := make([]byte, r.EntropySize)
	if _, err := rand.Read(entropy); err != nil {
		return err
	}
	c.PendingGeneration, c.PendingCreatedAt = c.Generation+1, now
	c.PendingSampleCount, c.PendingSampleLength = sampling.Count, sampling.Length
	c.pendingEntropy = newGenerationEntropy(entropy)
	return nil
}

// overlapEnds is when the superseded generation stops being accepted
// under the role's generation_overlap; zero when it has no overlap.
func (c *clientEntry) overlapEnds(r *roleEntry) time.Time {
	if c.SupersededGeneration == 0 || c.PromotedAt.IsZero() || r.GenerationOverlap <= 0 {
		return time.Time{}
	}
	return c.PromotedAt.Add(r.GenerationOverlap)
}

// inOverlap reports whether a proof of the superseded generation is an
// ordinary login at now, rather than a clone (or stale).
func (c *clientEntry) inOverlap(r *roleEntry, now time.Time) bool {
	ends := c.overlapEnds(r)
	return !ends.IsZero() && now.Before(ends)
}

// promote makes the pending generation, just proven by a proof issued at
// provenIssuedAt and received at now (the server's clock), current; the
// current one becomes superseded, and the superseded one's entropy is
// dropped with the record's next write.
func (c *clientEntry) promote(provenIssuedAt, now time.Time) {
	c.SupersededAt = provenIssuedAt
	c.PromotedAt = now
	c.SupersededGeneration = c.Generation
	c.SupersededSampleCount, c.SupersededSampleLength = c.SampleCount, c.SampleLength
	c.supersededEntropy = c.entropy

	c.Generation = c.PendingGeneration
	c.SampleCount, c.SampleLength = c.PendingSampleCount, c.PendingSampleLength
	c.entropy = c.pendingEntropy
	c.EntropySize = len(c.entropy.raw())
	c.GenerationCreatedAt = c.PendingCreatedAt
	// A rotation asked for after this generation was issued (say, for a
	// suspected theft) is still owed: the next login rotates again.
	if !c.PendingCreatedAt.Before(c.RotateRequestedAt) {
		c.RotateRequested = false
	}

	c.PendingGeneration, c.PendingCreatedAt, c.PendingOutOfBand = 0, time.Time{}, false
	c.PendingSampleCount, c.PendingSampleLength = 0, 0
	c.pendingEntropy = nil
}
