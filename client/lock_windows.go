//go:build windows

package client

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// openLockFile opens (creating it) the lock file at path.
// FILE_FLAG_OPEN_REPARSE_POINT is Windows' O_NOFOLLOW: a symbolic link (or
// junction) planted in the lock file's place is opened itself, not
// followed, so no file is created elsewhere, and lockState refuses it as
// not a regular file. The mode bits mean nothing on Windows beyond
// read-only: the file gets the ACL its directory passes on (see
// owner_other.go).
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.FILE_FLAG_OPEN_REPARSE_POINT, 0o600)
}

// lockRange is the byte range the lock covers: all of it, from offset 0.
// Windows byte-range locks are mandatory (they also stop others' reads
// and writes of the range), which is harmless on a file nobody reads.
const lockRange = ^uint32(0)

// tryLockFile takes an exclusive LockFileEx on f without waiting
// (LOCKFILE_FAIL_IMMEDIATELY): false when another handle holds it, which
// Windows reports as ERROR_LOCK_VIOLATION.
func tryLockFile(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, lockRange, lockRange, ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	}
	return false, err
}

// unlockFile releases f's lock: Windows releases a closed handle's locks
// when it gets to it, so the lock is released explicitly first.
func unlockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, lockRange, lockRange, ol)
}
