//go:build linux || darwin

package client

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openLockFile opens (creating it 0600) the lock file at path. O_NOFOLLOW:
// the lock file is ours to create; a symlink planted in its place must not
// make us create or open a file elsewhere.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
}

// tryLockFile takes an exclusive flock(2) on f without waiting: false when
// another open file holds it.
func tryLockFile(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

// unlockFile releases f's flock.
func unlockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
