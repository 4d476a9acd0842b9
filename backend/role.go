package backend

import (
	"context"
	"fmt"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// roleEntry is a role: what its clients' entropy looks like, how much of it
// a proof samples, where logins may come from, and the tokens they get.
type roleEntry struct {
	SchemaVersion int `json:"schema_version"`
	tokenutil.TokenParams

	// InstanceID is made when the role is created and kept by updates: a
	// role deleted and created again is another instance, and the clients
	// and tokens of the first are not its own (binding.go).
	InstanceID string `json:"instance_id"`

	EntropySize     int                           `json:"entropy_size"`
	SampleCount     int                           `json:"sample_count"`
	SampleLength    int                           `json:"sample_length"`
	LoginBoundCIDRs []*sockaddr.SockAddrMarshaler `json:"login_bound_cidrs"`
	ClientTTL       time.Duration                 `json:"client_ttl"`

	// RotationPeriod is how old a client's generation may grow before a
	// login is handed the next one; at least minRotationPeriod.
	RotationPeriod time.Duration `json:"rotation_period"`
	// RotateBefore makes every client whose generation was made before it
	// rotate at its next login (role/<name>/rotate).
	RotateBefore time.Time `json:"rotate_before"`
	// GenerationOverlap is how long the superseded generation stays valid
	// after its successor is first proven (clientEntry.PromotedAt): copies
	// of the previous deployment of a read-only client keep logging in
	// while it winds down. 0, the default, accepts none: a proof of the
	// superseded generation is a clone (or stale) at once.
	GenerationOverlap time.Duration `json:"generation_overlap,omitempty"`
	// CloneAction is what a proven clone does to the client: cloneActionLock
	// or cloneActionLog.
	CloneAction string `json:"clone_action"`
	// LockoutThreshold failed proofs within LockoutCounterReset lock the
	// source out of the client for LockoutDuration; 0 disables lockout.
	// Every role holds all three, set when it was created: the duration
	// and the window are positive whatever the threshold.
	LockoutThreshold    int           `json:"lockout_threshold"`
	LockoutDuration     time.Duration `json:"lockout_duration"`
	LockoutCounterReset time.Duration `json:"lockout_counter_reset"`
	// ChallengeRequired makes every login use challenge mode.
	ChallengeRequired bool `json:"challenge_required"`
}

const (
	defaultRotationPeriod = time.Hour
	minRotationPeriod     = time.Second
	// maxGenerationOverlap bounds generation_overlap: each deploy leaves a
	// thief holding the previous generation undetected for the overlap, so
	// it is kept to what an old deployment needs to wind down. A day is
	// more than a CI job runs (GitHub-hosted jobs stop at 6h, GitLab's
	// default timeout is 1h) or a function invocation lasts (Lambda: 15
	// minutes), and covers a rolling deploy's drain.
	maxGenerationOverlap       = 24 * time.Hour
	cloneActionLock            = "lock"
	cloneActionLog             = "log"
	defaultLockoutThreshold    = 5
	defaultLockoutDuration     = 15 * time.Minute
	defaultLockoutCounterReset = 15 * time.Minute
)

// locksClones reports whether a proven clone locks the client: anything
// but "log" does, so that a damaged record fails closed.
func (r *roleEntry) locksClones() bool { return r.CloneAction != cloneActionLog }

func (r *roleEntry) sampling() protocol.Sampling {
	return protocol.Sampling{Count: r.SampleCount, Length: r.SampleLength}
}

func roleStorageKey(name string) string { return rolePrefix + name }

// roleLock is the named role's lock: held for writing while the role or
// its client list changes, for reading to keep both as they are.
func (b *entropyBackend) roleLock(name string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.roleLocks, name)
}

// role returns the named role, or nil if there is none.
func (b *entropyBackend) role(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	entry, err := s.Get(ctx, roleStorageKey(name))
	if err != nil {
		return nil, fmt.Errorf("reading role: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	return decodeRole(entry)
}

func (b *entropyBackend) putRole(ctx context.Context, s logical.Storage, name string, r *roleEntry) error {
	if err := b.storeCached(ctx, s, roleStorageKey(name), r); err != nil {
		return fmt.Errorf("writing role: %w", err)
	}
	return nil
}
