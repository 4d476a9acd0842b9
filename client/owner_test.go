//go:build linux || darwin

package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nobody is the uid the tests give files "of another user"; they run as
// root, which may chown.
const nobody = 65534

func asUser(t *testing.T, uid int) {
	t.Helper()
	old := currentUID
	currentUID = func() int { return uid }
	t.Cleanup(func() { currentUID = old })
}

func TestStateOfAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown")
	}
	fv := newFakeVault(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  error
	}{
		{"state owned by another user", func(t *testing.T, path string) {
			must(t, os.Chown(path, nobody, nobody))
		}, ErrStateOwner},
		{"state owned by root, process another user", func(t *testing.T, path string) {
			asUser(t, 1000)
		}, ErrStateOwner},
		{"directory writable by others", func(t *testing.T, path string) {
			must(t, os.Chmod(filepath.Dir(path), 0o777))
		}, ErrStateDirectory},
		{"directory writable by others, sticky", func(t *testing.T, path string) {
			must(t, os.Chmod(filepath.Dir(path), 0o1777))
		}, ErrStateDirectory},
		{"directory writable by group", func(t *testing.T, path string) {
			must(t, os.Chmod(filepath.Dir(path), 0o770))
		}, ErrStateDirectory},
		{"directory owned by another user", func(t *testing.T, path string) {
			must(t, os.Chown(filepath.Dir(path), nobody, nobody))
		}, ErrStateDirectory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fv.stateFile(t)
			tc.setup(t, path)
			if _, err := LoadState(path); !errors.Is(err, tc.want) {
				t.Errorf("LoadState: %v, want %v", err, tc.want)
			}
			if _, err := fv.client(t).Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, tc.want) {
				t.Errorf("Login: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLockFileOfAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown")
	}
	fv := newFakeVault(t)
	path := fv.stateFile(t)
	s := mustLoad(t, path)
	// Pre-created by another user, open to all, as one would plant it to
	// hold the lock.
	lock := path + lockSuffix
	must(t, os.Remove(lock))
	must(t, os.WriteFile(lock, nil, 0o666))
	must(t, os.Chmod(lock, 0o666))
	must(t, os.Chown(lock, nobody, nobody))
	err := s.Save(path)
	if !errors.Is(err, ErrStateOwner) || !strings.Contains(err.Error(), "another user may hold the lock") {
		t.Fatalf("Save: %v, want ErrStateOwner", err)
	}
	if _, err := fv.client(t).Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, ErrStateOwner) {
		t.Fatalf("Login: %v, want ErrStateOwner", err)
	}
	// The current user's own lock file is fine.
	must(t, os.Chown(lock, 0, 0))
	must(t, s.Save(path))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
