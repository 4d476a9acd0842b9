//go:build linux || darwin

package client

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// currentUID is the user the process runs as (a variable for tests, which
// run as root).
var currentUID = os.Getuid

// checkOwned refuses a state or lock file that is not the current user's:
// another user who owns it can read it, rewrite it or, for the lock file,
// hold it.
func checkOwned(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(st.Uid); uid != currentUID() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to this user (uid %d)", ErrStateOwner, path, uid, currentUID())
	}
	return nil
}

// checkPrivateMode refuses a state file that other users may read or
// write (any group or other bit: it should be 0600).
func checkPrivateMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o", ErrStateReadable, path, perm)
	}
	return nil
}

// checkStateDir refuses a state file's directory that another user could
// change: writable by group or others (sticky or not: they could create
// the lock file or the state's name before us), or owned by someone other
// than the current user or root. Whoever can change the directory can
// replace the state file by a rename, or plant its lock file.
func checkStateDir(statePath string) error {
	dir := filepath.Dir(statePath)
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, writable by other users", ErrStateDirectory, dir, perm)
	}
	if uid := int(st.Uid); uid != currentUID() && uid != 0 {
		return fmt.Errorf("%w: %s belongs to uid %d, neither this user (uid %d) nor root", ErrStateDirectory, dir, uid, currentUID())
	}
	return nil
}
