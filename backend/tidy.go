package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Tidy removes what nothing can use any more: entropy generations that no
// client record names, and
// expired clients (or clients whose role is gone, or was deleted and
// created again since they were enrolled). It runs beside logins:
// every change to a client is made under that client's lock, after
// re-reading its record.

// tidyResult counts what one tidy removed.
type tidyResult struct {
	// EntropyDeleted counts abandoned generations; the entropy of deleted
	// clients goes with them and is not counted here.
	EntropyDeleted int
	ClientsDeleted int
}

func (r *tidyResult) empty() bool { return *r == tidyResult{} }

const (
	tidyStateIdle     = "idle"
	tidyStateRunning  = "running"
	tidyStateFinished = "finished"
	tidyStateFailed   = "failed"
)

// tidyStatus is the last or current tidy, as tidy/status reports it.
type tidyStatus struct {
	State      string
	StartedAt  time.Time
	FinishedAt time.Time
	Result     tidyResult
	Error      string
}

// tidyState admits one tidy at a time, whether the endpoint or the
// periodic function started it, and keeps its status.
type tidyState struct {
	running atomic.Bool

	mu     sync.Mutex
	status tidyStatus
}

func (t *tidyState) setStatus(s tidyStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = s
}

func (t *tidyState) getStatus() tidyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status.State == "" {
		return tidyStatus{State: tidyStateIdle}
	}
	return t.status
}

// errTidyRunning is tidy's answer while another tidy runs.
var errTidyRunning = errors.New("a tidy is already running")

// tidy runs a whole tidy now and returns what it removed; errTidyRunning if
// another one is running.
func (b *entropyBackend) tidy(ctx context.Context, s logical.Storage) (*tidyResult, error) {
	if !b.tidyState.running.CompareAndSwap(false, true) {
		return nil, errTidyRunning
	}
	defer b.tidyState.running.Store(false)
	return b.nonLockedTidy(ctx, s)
}

// nonLockedTidy is tidy for a caller that holds tidyState.running. A step
// that fails does not stop the others: each removes only what is dead.
func (b *entropyBackend) nonLockedTidy(ctx context.Context, s logical.Storage) (*tidyResult, error) {
	logger := b.Logger().Named("tidy")
	started := b.now().UTC()
	b.tidyState.setStatus(tidyStatus{State: tidyStateRunning, StartedAt: started})

	res := &tidyResult{}
	err := errors.Join(
		b.tidyClients(ctx, s, res),
		b.tidyEntropy(ctx, s, res),
	)

	st := tidyStatus{State: tidyStateFinished, StartedAt: started, FinishedAt: b.now().UTC(), Result: *res}
	if err != nil {
		st.State, st.Error = tidyStateFailed, err.Error()
		logger.Error("tidy failed", "error", err,
			"entropy_deleted", res.EntropyDeleted, "clients_deleted", res.ClientsDeleted)
	} else {
		level := logger.Debug
		if !res.empty() {
			level = logger.Info
		}
		level("tidy finished", "entropy_deleted", res.EntropyDeleted, "clients_deleted", res.ClientsDeleted)
	}
	b.tidyState.setStatus(st)
	return res, err
}

// tidyClients deletes expired clients, and clients whose role is gone or is
// another instance than the one they were enrolled under (a role deletion
// interrupted before it removed them all, the role created again since).
func (b *entropyBackend) tidyClients(ctx context.Context, s logical.Storage, res *tidyResult) error {
	roles, err := s.List(ctx, clientPrefix)
	if err != nil {
		return fmt.Errorf("listing client roles: %w", err)
	}
	for _, dir := range roles {
		if !strings.HasSuffix(dir, "/") {
			continue
		}
		if err := b.tidyRoleClients(ctx, s, strings.TrimSuffix(dir, "/"), res); err != nil {
			return err
		}
	}
	return nil
}

func (b *entropyBackend) tidyRoleClients(ctx context.Context, s logical.Storage, role string, res *tidyResult) error {
	// The role's read lock keeps the role from being created, and so
	// clients from being enrolled in it, while its orphans are removed.
	roleLock := b.roleLock(role)
	roleLock.RLock()
	defer roleLock.RUnlock()

	r, err := b.role(ctx, s, role)
	if err != nil {
		return err
	}
	ids, err := s.List(ctx, clientPrefix+role+"/")
	if err != nil {
		return fmt.Errorf("listing clients: %w", err)
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasSuffix(id, "/") {
			continue
		}
		if err := b.tidyClient(ctx, s, r, role, id, res); err != nil {
			return err
		}
	}
	return nil
}

// tidyClient deletes one client if it has expired or it does not belong
// to r, its role as it is now (nil: gone).
func (b *entropyBackend) tidyClient(ctx context.Context, s logical.Storage, r *roleEntry, role, id string, res *tidyResult) error {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()

	c, err := b.client(ctx, s, role, id)
	if err != nil || c == nil {
		return err
	}
	reason := "expired"
	switch {
	case r == nil:
		reason = "role deleted"
	case !c.boundTo(r):
		reason = "enrolled under an earlier instance of the role"
	case !c.expired(b.now()):
		return nil
	}
	if err := b.nonLockedDeleteClient(ctx, s, role, id); err != nil {
		return err
	}
	res.ClientsDeleted++
	b.Logger().Named("tidy").Info("client deleted", "role", role, "client_id", id, "generation", c.Generation, "reason", reason)
	return nil
}

// tidyEntropy deletes the schema version 1 entropy entries that no client
// still reads: those of a client whose record has moved to the one-entry
// form (whose deletion of them failed or was cut short), whose record is
// gone, or that its record does not name as current, pending or
// superseded (a version 1 rotation whose record was never written).
func (b *entropyBackend) tidyEntropy(ctx context.Context, s logical.Storage, res *tidyResult) error {
	roles, err := s.List(ctx, entropyPrefix)
	if err != nil {
		return fmt.Errorf("listing entropy roles: %w", err)
	}
	for _, roleDir := range roles {
		if !strings.HasSuffix(roleDir, "/") {
			continue
		}
		ids, err := s.List(ctx, entropyPrefix+roleDir)
		if err != nil {
			return fmt.Errorf("listing entropy clients: %w", err)
		}
		for _, idDir := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !strings.HasSuffix(idDir, "/") {
				continue
			}
			role, id := strings.TrimSuffix(roleDir, "/"), strings.TrimSuffix(idDir, "/")
			if err := b.tidyClientEntropy(ctx, s, role, id, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *entropyBackend) tidyClientEntropy(ctx context.Context, s logical.Storage, role, id string, res *tidyResult) error {
	// Under the client's lock a login has either written both the new
	// entropy and the record that names it, or neither.
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()

	c, err := b.client(ctx, s, role, id)
	if err != nil {
		return err
	}
	prefix := entropyPrefix + role + "/" + id + "/"
	gens, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing entropy: %w", err)
	}
	for _, g := range gens {
		if strings.HasSuffix(g, "/") || (c != nil && c.legacyEntropy && namesGeneration(c, g)) {
			continue
		}
		if err := s.Delete(ctx, prefix+g); err != nil {
			return fmt.Errorf("deleting entropy: %w", err)
		}
		res.EntropyDeleted++
		b.Logger().Named("tidy").Info("abandoned entropy generation deleted", "role", role, "client_id", id, "generation", g)
	}
	return nil
}

// namesGeneration reports whether the storage key segment g is exactly the
// key of a generation c uses.
func namesGeneration(c *clientEntry, g string) bool {
	n, err := strconv.ParseUint(g, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != g {
		return false
	}
	kind, _ := c.generationOf(n)
	return kind != genUnknown
}
