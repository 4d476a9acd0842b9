package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Replay protection without a storage write per login.
//
// Every accepted proof is single use. The nonces accepted recently live in
// the memory of the node that serves logins (the active node: standbys
// forward to it), for as long as a proof could still pass the time check.
// What memory cannot carry across a restart, a plugin reload or a leader
// change is covered by a watermark in storage: before it accepts a proof
// issued at T, the node makes sure the stored watermark is at least T, and
// a node that starts refuses every proof issued at or before the watermark
// it finds, since a node before it may have accepted that proof without a
// trace. The watermark moves in steps ahead of the clock, so an ordinary
// login writes nothing and a busy server writes about once a step. A
// deposed leader cannot raise it (its raft writes fail), so it cannot accept
// a proof that its successor would accept again.
//
// The price: right after a start, honest proofs issued before the
// watermark are refused with a named refusal (ErrProofPredatesWindow) and
// their clients make new ones; and a proof may be issued at most
// maxFutureSkew ahead of the server's clock, which bounds how far a client
// can push the watermark, and so that refusal window, ahead.

// initialize reads the replay watermark when the backend starts serving (on
// the active node), rather than in the first login. On failure the first
// login tries again.
func (b *entropyBackend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	if err := b.nonces.load(ctx, req.Storage); err != nil {
		b.Logger().Warn("replay window not opened at start; the first login will try again", "error", err)
	}
	return nil
}

// nonceStore makes every accepted proof single use.
type nonceStore interface {
	// load prepares the store, once: see memoryNonceStore.load.
	load(ctx context.Context, s logical.Storage) error
	// claim records that the nonce with this ID, of a proof issued at
	// issuedAt, was accepted at now under the config's skew. It returns
	// protocol.ErrReplay if the nonce was claimed before and
	// protocol.ErrProofPredatesWindow if this store cannot tell, and
	// records nothing then; any other error is a fault.
	claim(ctx context.Context, s logical.Storage, id [32]byte, issuedAt, now time.Time, skew time.Duration) error
	// claimed reports, reading memory only, whether the nonce with this ID
	// of a proof issued at issuedAt has been claimed: a replay refused
	// before the client's lock and its entropy are touched. claim stays the
	// atomic check.
	claimed(id [32]byte, issuedAt time.Time) bool
}

const (
	// watermarkStorageKey holds the watermark: no proof issued after it has
	// been accepted.
	watermarkStorageKey = "replay/watermark"
	// watermarkStep is how far past the proof being accepted (or the clock,
	// if later) the watermark is raised: about one write per step under
	// load, and the refusal window after a start is about this long.
	watermarkStep = 2 * time.Second
	// maxFutureSkew is how far ahead of the server's clock a proof may be
	// issued, whatever allowed_clock_skew says: the watermark, and so the
	// refusal window after a start, follows the latest issued_at accepted.
	maxFutureSkew = 5 * time.Second
	// memoryMargin keeps nonces in memory this long past the time check's
	// window. Forgetting a second moves the horizon past it, so the
	// margin only spares proofs that are slow between the time check and
	// the claim a needless refusal; it is not needed for safety.
	memoryMargin = 10 * time.Second
)

// memoryNonceStore is the nonce store described above.
type memoryNonceStore struct {
	// raise serialises raising the watermark, so that one write serves
	// every login waiting for it.
	raise sync.Mutex

	mu     sync.Mutex
	loaded bool
	// horizon: proofs issued at or before it are refused as predating the
	// window (the stored watermark at start, then the seconds forgotten).
	horizon int64
	// reserved is the stored watermark: every proof accepted was issued at
	// or before it.
	reserved int64
	// seen holds the accepted nonce IDs by the second their proof was
	// issued.
	seen       map[int64]map[[32]byte]struct{}
	lastPruned int64
}

func newMemoryNonceStore() *memoryNonceStore {
	return &memoryNonceStore{seen: map[int64]map[[32]byte]struct{}{}}
}

type watermarkEntry struct {
	SchemaVersion int `json:"schema_version"`
	// IssuedAt is in Unix seconds.
	IssuedAt int64 `json:"issued_at"`
}

func (n *memoryNonceStore) claim(ctx context.Context, s logical.Storage, id [32]byte, issuedAt, now time.Time, skew time.Duration) error {
	if err := n.load(ctx, s); err != nil {
		return err
	}
	t := issuedAt.Unix()
	n.mu.Lock()
	horizon, reserved := n.horizon, n.reserved
	n.mu.Unlock()
	if t <= horizon {
		return protocol.ErrProofPredatesWindow
	}
	if t > reserved {
		if err := n.raiseWatermark(ctx, s, t, now); err != nil {
			return err
		}
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	n.prune(now, skew)
	if t <= n.horizon { // forgotten while this login waited
		return protocol.ErrProofPredatesWindow
	}
	second := n.seen[t]
	if second == nil {
		second = map[[32]byte]struct{}{}
		n.seen[t] = second
	}
	if _, ok := second[id]; ok {
		return protocol.ErrReplay
	}
	second[id] = struct{}{}
	return nil
}

func (n *memoryNonceStore) claimed(id [32]byte, issuedAt time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.seen[issuedAt.Unix()][id]
	return ok
}

// load reads the watermark once, when the backend starts serving
// (initialize), else at the first login: the new horizon. A failed read is
// retried by the next login.
func (n *memoryNonceStore) load(ctx context.Context, s logical.Storage) error {
	n.mu.Lock()
	loaded := n.loaded
	n.mu.Unlock()
	if loaded {
		return nil
	}
	n.raise.Lock()
	defer n.raise.Unlock()
	if n.loaded {
		return nil
	}
	w := &watermarkEntry{}
	entry, err := s.Get(ctx, watermarkStorageKey)
	if err != nil {
		return fmt.Errorf("reading the replay watermark: %w", err)
	}
	if entry != nil {
		if w, err = decodeWatermark(entry); err != nil {
			return err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// The stored watermark covers every node before this one, unless
	// storage went back in time (a snapshot restore): see the threat
	// model. Refusing up to now plus the future bound as well would cover
	// that, but would refuse every login for seconds after every start,
	// a fresh mount's first ones included.
	n.horizon, n.reserved, n.loaded = w.IssuedAt, w.IssuedAt, true
	return nil
}

// raiseWatermark stores a watermark of at least t before a proof issued at
// t is accepted. The write is the point of no return: if it fails, the
// login fails.
func (n *memoryNonceStore) raiseWatermark(ctx context.Context, s logical.Storage, t int64, now time.Time) error {
	n.raise.Lock()
	defer n.raise.Unlock()
	n.mu.Lock()
	reserved := n.reserved
	n.mu.Unlock()
	if t <= reserved { // another login raised it meanwhile
		return nil
	}
	next := max(t, now.Unix()) + int64(watermarkStep/time.Second)
	if err := putRecord(ctx, s, watermarkStorageKey, &watermarkEntry{IssuedAt: next}); err != nil {
		return fmt.Errorf("raising the replay watermark: %w", err)
	}
	n.mu.Lock()
	n.reserved = next
	n.mu.Unlock()
	return nil
}

// prune forgets, once a second, the seconds no proof can be issued in and
// still pass the time check, and moves the horizon past them. Called with
// n.mu held.
func (n *memoryNonceStore) prune(now time.Time, skew time.Duration) {
	sec := now.Unix()
	if sec == n.lastPruned {
		return
	}
	n.lastPruned = sec
	oldest := now.Add(-skew - memoryMargin).Unix()
	for t := range n.seen {
		if t < oldest {
			delete(n.seen, t)
			n.horizon = max(n.horizon, t)
		}
	}
	// Seconds in which nothing was accepted are forgotten too: after a
	// raised skew, an old proof is refused as predating the window rather
	// than accepted with nothing to compare it with.
	n.horizon = max(n.horizon, oldest-1)
}

// size is the number of nonces held, for tests.
func (n *memoryNonceStore) size() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for _, s := range n.seen {
		total += len(s)
	}
	return total
}

// isNonceRefusal tells a claim's refusals from its faults.
func isNonceRefusal(err error) bool {
	return errors.Is(err, protocol.ErrReplay) || errors.Is(err, protocol.ErrProofPredatesWindow)
}
