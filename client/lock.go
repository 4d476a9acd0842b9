package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The state's lock serialises every read-modify-write of one state file:
// a login loads the state, proves a generation, reads the receipt and saves
// what it brought. Two processes doing that at once could both prove the
// same generation after one of them was handed the next, and the second
// would then prove a superseded generation, which the server treats as a
// clone. The lock is an exclusive flock(2) on a sibling file,
// "<state path>.lock", never on the state file itself: Save replaces the
// state file by a rename, and a lock held on the replaced inode would no
// longer exclude anyone. The lock file is never removed, for the same
// reason (a process waiting on the unlinked file would lock it while a
// newcomer locks a new one).
//
// flock locks belong to an open file description, so two opens in one
// process exclude each other as two processes do; the lock is released
// when its file is closed, also when the process dies.

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
