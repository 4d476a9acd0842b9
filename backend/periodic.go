package backend

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// tidyInterval is how often the periodic function runs a tidy.
const tidyInterval = time.Hour

// periodicState admits one periodic run at a time.
type periodicState struct {
	running atomic.Bool
	// lastTidy is when the last periodic tidy started; only touched
	// by the run that holds running.
	lastTidy time.Time
}

// periodicFunc is called by Vault about once a minute on every node. It
// creates the server keys if the mount's initialization could not, rotates
// the server key when it is due and tidies, only where this
// mount's storage can be written: not on performance standbys, nor on
// performance secondaries unless the mount is local. Failures are logged
// here; Vault retries a minute later anyway.
func (b *entropyBackend) periodicFunc(ctx context.Context, req *logical.Request) error {
	if !b.WriteSafeReplicationState() {
		return nil
	}
	if !b.periodicState.running.CompareAndSwap(false, true) {
		return nil
	}
	defer b.periodicState.running.Store(false)

	logger := b.Logger().Named("periodic")
	// Normally done when the mount was initialized; this retries a
	// failure there.
	if err := b.initializeKeys(ctx, req.Storage); err != nil {
		logger.Error("creating the server keys failed", "error", err)
	}
	if err := b.rotateKeysIfDue(ctx, req.Storage); err != nil {
		logger.Error("server key rotation failed", "error", err)
	}
	if err := b.periodicTidy(ctx, req.Storage); err != nil && !errors.Is(err, errTidyRunning) {
		logger.Error("tidy failed", "error", err)
	}
	return nil
}

// rotateKeysIfDue makes a new current server key when the current one is
// older than key_rotation_period, and otherwise drops keys past their grace
// period. The age is checked under the keyring lock, so that a rotation
// made meanwhile (keys/rotate) is not followed at once by a second one. A
// full keyring (manual rotations on top of the automatic ones) delays the
// rotation until its oldest key's grace ends: a key is never dropped early.
func (b *entropyBackend) rotateKeysIfDue(ctx context.Context, s logical.Storage) error {
	c, err := b.config(ctx, s)
	if err != nil {
		return err
	}
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	kr, err := readKeyring(ctx, s)
	if err != nil {
		return err
	}
	// No keyring yet: initializeKeys makes the first one.
	if kr == nil || len(kr.Keys) == 0 {
		return nil
	}
	previous := kr.Keys[0]
	if c.KeyRotationPeriod <= 0 || b.now().Before(previous.CreatedAt.Add(c.KeyRotationPeriod)) {
		return b.nonLockedPruneKeys(ctx, s, kr, c.KeyGracePeriod)
	}
	next, err := b.nonLockedAddKey(ctx, s, kr, c)
	if errors.Is(err, errKeyringFull) {
		b.Logger().Warn("server key rotation delayed", "reason", err)
		return b.nonLockedPruneKeys(ctx, s, kr, c.KeyGracePeriod)
	}
	if err != nil {
		return fmt.Errorf("rotating server key: %w", err)
	}
	attrs := []interface{}{"key_id", next.Keys[0].ID, "previous_key_id", previous.ID}
	if len(next.Keys) > 1 {
		attrs = append(attrs, "previous_accepted_until", formatTime(next.Keys[1].acceptedUntil(c.KeyGracePeriod)))
	}
	b.Logger().Info("server key rotated (key_rotation_period)", attrs...)
	return nil
}

// periodicTidy runs a tidy every tidyInterval. A tidy that is already
// running does the work instead.
func (b *entropyBackend) periodicTidy(ctx context.Context, s logical.Storage) error {
	now := b.now()
	if last := b.periodicState.lastTidy; !last.IsZero() && now.Before(last.Add(tidyInterval)) {
		return nil
	}
	if !b.tidyState.running.CompareAndSwap(false, true) {
		return errTidyRunning
	}
	defer b.tidyState.running.Store(false)
	b.periodicState.lastTidy = now
	_, err := b.nonLockedTidy(ctx, s)
	return err
}

// cleanup ends background work when the mount goes away or is reloaded.
func (b *entropyBackend) cleanup(context.Context) {
	b.bgCancel()
	b.clients.clear()
}
