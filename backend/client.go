package backend

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// A client's storage, all of it in this file: its record (clientEntry, at
// client/<role>/<client_id>) and one entry per generation of its entropy
// (entropy/<role>/<client_id>/<generation>, the raw bytes, seal-wrapped).
// The record names the generations it uses; entropy is written before the
// record that names it and deleted after the record that stops naming it,
// so that a record never names entropy that is not there. Writers hold the
// client's lock (clientLock).

// clientEntry is an enrolled client's metadata. The entropy lives apart, in
// entropyEntry, so that reading or changing metadata never touches it.
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

func entropyStorageKey(role, id string, generation uint64) string {
	return entropyPrefix + role + "/" + id + "/" + strconv.FormatUint(generation, 10)
}

// client returns the client's record, or nil if there is none.
func (b *entropyBackend) client(ctx context.Context, s logical.Storage, role, id string) (*clientEntry, error) {
	entry, err := s.Get(ctx, clientStorageKey(role, id))
	if err != nil {
		return nil, fmt.Errorf("reading client: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	return decodeClient(entry)
}

// putClientRecord writes a client's record only; its entropy is
// untouched.
func (b *entropyBackend) putClientRecord(ctx context.Context, s logical.Storage, c *clientEntry) error {
	if err := putRecord(ctx, s, clientStorageKey(c.Role, c.ClientID), c); err != nil {
		return fmt.Errorf("writing client: %w", err)
	}
	return nil
}

// putClient stores a new client: entropy first, so that a client record
// never exists without its entropy.
func (b *entropyBackend) putClient(ctx context.Context, s logical.Storage, c *clientEntry, entropy []byte) error {
	if err := b.putEntropy(ctx, s, c.Role, c.ClientID, c.Generation, entropy); err != nil {
		return err
	}
	return b.putClientRecord(ctx, s, c)
}

// updateClient applies change to a client's record under the client's
// lock, re-reading the record after taking it, and writes the record only.
// A missing client is a 404 error and writes nothing.
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
	if err := b.putClientRecord(ctx, s, c); err != nil {
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

// deleteClient removes a client: the record first, so that it can no
// longer log in or renew, then every generation of its entropy.
func (b *entropyBackend) deleteClient(ctx context.Context, s logical.Storage, role, id string) error {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()
	return b.nonLockedDeleteClient(ctx, s, role, id)
}

// nonLockedDeleteClient is deleteClient for a caller that holds the
// client's lock.
func (b *entropyBackend) nonLockedDeleteClient(ctx context.Context, s logical.Storage, role, id string) error {
	if err := s.Delete(ctx, clientStorageKey(role, id)); err != nil {
		return fmt.Errorf("deleting client: %w", err)
	}
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

// entropy returns one generation of the client's entropy, or nil. The
// entry's value is the entropy itself: no encoding to parse on every login.
func (b *entropyBackend) entropy(ctx context.Context, s logical.Storage, role, id string, generation uint64) ([]byte, error) {
	entry, err := s.Get(ctx, entropyStorageKey(role, id, generation))
	if err != nil {
		return nil, fmt.Errorf("reading entropy: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	return entry.Value, nil
}

// putEntropy stores one generation of the client's entropy.
func (b *entropyBackend) putEntropy(ctx context.Context, s logical.Storage, role, id string, generation uint64, entropy []byte) error {
	entry := &logical.StorageEntry{Key: entropyStorageKey(role, id, generation), Value: entropy, SealWrap: true}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("writing entropy: %w", err)
	}
	return nil
}

// deleteEntropy removes one generation of a client's entropy.
func (b *entropyBackend) deleteEntropy(ctx context.Context, s logical.Storage, role, id string, generation uint64) error {
	if err := s.Delete(ctx, entropyStorageKey(role, id, generation)); err != nil {
		return fmt.Errorf("deleting entropy: %w", err)
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

// promote makes the pending generation, just proven with entropy of
// pendingSize bytes by a proof issued at provenIssuedAt, current; the
// current one becomes superseded. It returns the generation whose entropy
// nothing needs any more (0 if none), for the caller to delete once the
// record is written.
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
