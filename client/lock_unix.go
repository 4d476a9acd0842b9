//go:build linux || darwin

package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockState takes the exclusive lock of the state file at statePath,
// waiting for another holder until ctx is done, and returns the function
// that releases it. The state's directory must exist. It polls with
// LOCK_NB rather than blocking in flock(2), so that a caller's deadline or
// cancellation is honoured.
func lockState(ctx context.Context, statePath string) (unlock func(), err error) {
	path := statePath + lockSuffix
	if err := checkStateDir(statePath); err != nil {
		return nil, err
	}
	// O_NOFOLLOW: the lock file is ours to create; a symlink planted in its
	// place must not make us create or open a file elsewhere.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
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
	fd := int(f.Fd())
	delay := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return func() {
				// Closing releases the lock as well; the explicit
				// unlock only documents it.
				_ = unix.Flock(fd, unix.LOCK_UN)
				f.Close()
			}, nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
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
