package client

import (
	"os"
	"path/filepath"
)

// WriteSecretFile writes data to path as a file of secrets must be
// written: to a temporary file in the same directory, created 0600, synced,
// then renamed over path, and the directory synced. A reader sees the old
// content or the new, never a part; a crash leaves one or the other. The
// directory is created 0700 if missing. The caller must be path's only
// writer: the state file's writers hold its lock, the agent's sink and
// proof files have one writer each.
func WriteSecretFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	pattern := "." + filepath.Base(path) + ".tmp-*"
	// A writer killed between creating its temporary file and renaming it
	// leaves the file behind, with a secret in it. The caller is the only
	// writer (the state's writers hold its lock), so no other writer's
	// temporary file can be in flight: remove what earlier crashes left.
	if stale, err := filepath.Glob(filepath.Join(dir, pattern)); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
