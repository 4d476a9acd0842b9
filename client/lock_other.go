//go:build !(linux || darwin || windows)

package client

import (
	"errors"
	"os"
)

// errNoLock: the state's lock is implemented for Linux, macOS and Windows,
// the platforms this client is released for. Elsewhere the package builds,
// but every operation that writes the state (Save, Login) fails with this
// error rather than risk two processes racing on one state file without a
// lock.
var errNoLock = errors.New("locking the client state is implemented for Linux, macOS and Windows only")

func openLockFile(string) (*os.File, error) { return nil, errNoLock }

func tryLockFile(*os.File) (bool, error) { return false, errNoLock }

func unlockFile(*os.File) error { return errNoLock }
