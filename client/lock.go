package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// The state's lock serialises every read-modify-write of one state file:
// a login loads the state, proves a generation, reads the receipt and saves
// what it brought. Two processes doing that at once could both prove the
// same generation after one of them was handed the next, and the second
// would then prove a superseded generation, which the server treats as a
// clone. The lock is an exclusive lock on a sibling file,
// "<state path>.lock", never on the state file itself: Save replaces the
// state file by a rename, and a lock held on the replaced file would no
// longer exclude anyone. The lock file is never removed, for the same
// reason (a process waiting on the unlinked file would lock it while a
// newcomer locks a new one).
//
// The kind of lock is the platform's (lock_unix.go: flock(2);
// lock_windows.go: LockFileEx). Both belong to an open file (an open file
// description, a handle), so two opens in one process exclude each other as
// two processes do, and both are released when the file is closed, also
// when the process dies. Other programs sharing a state file with
// vault-entropy must take the same lock on the same file.

// lockSuffix names the lock file of a state file.
const lockSuffix = ".lock"

// lockExisting takes the lock of a state file that must exist already, for
// a read-modify-write: a mistyped path is ErrNoState, and leaves no lock
// file behind.
func lockExisting(ctx context.Context, statePath string) (unlock func(), err error) {
	if _, err := os.Lstat(statePath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoState, statePath)
	}
	return lockState(ctx, statePath)
}

// lockState takes the exclusive lock of the state file at statePath,
// waiting for another holder until ctx is done, and returns the function
// that releases it. The state's directory must exist. It polls with a
// non-blocking attempt (tryLockFile) rather than blocking in the system
// call, so that a caller's deadline or cancellation is honoured.
func lockState(ctx context.Context, statePath string) (unlock func(), err error) {
	path := statePath + lockSuffix
	if err := checkStateDir(statePath); err != nil {
		return nil, err
	}
	f, err := openLockFile(path)
	if err != nil {
		return nil, fmt.Errorf("opening the state's lock file: %w", err)
	}
	// A lock file another user created (the directory was theirs to write
	// once, or they own it now) is one they can hold for ever, or open and
	// hold while we wait: refused at once rather than waited on.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("the state's lock file %s is not a regular file", path)
	} else if err := checkOwned(path, fi); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w; another user may hold the lock: remove the file", err)
	}
	delay := time.Millisecond
	for {
		locked, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if locked {
			return func() {
				// Closing releases the lock as well; the explicit
				// unlock only documents it (and Windows may release
				// a closed handle's lock later than its close).
				_ = unlockFile(f)
				f.Close()
			}, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s, held by another process using the same state: %w", path, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}
