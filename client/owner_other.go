//go:build !(linux || darwin)

package client

import "io/fs"

// Outside Linux and macOS nothing here checks who owns or may read the
// state, its lock file or its directory. On Windows, where the client is
// released: file mode bits do not exist (Go reports 0666, or 0444 for a
// read-only file), so the 0600 check would refuse every state, and a file's
// owner and readers are in its ACL, which the state files inherit from
// their directory. The default directory, %USERPROFILE%\.vault-entropy,
// inherits the profile's ACL: the user, SYSTEM and Administrators. A state
// file placed elsewhere (-state, VAULT_ENTROPY_STATE) is as private as that
// directory's ACL makes it; vault-entropy neither checks nor sets it
// (docs/install.md says so).
func checkOwned(string, fs.FileInfo) error { return nil }

func checkPrivateMode(string, fs.FileInfo) error { return nil }

func checkStateDir(string) error { return nil }
