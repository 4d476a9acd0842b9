//go:build linux || darwin

package client

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockHelperEnv makes the test binary, run again as a child process, try
// the lock once without waiting and report the outcome by its exit code.
const lockHelperEnv = "ENTROPY_LOCK_HELPER_STATE"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		os.Exit(tryLockOnce(path))
	}
	os.Exit(m.Run())
}

// tryLockOnce: 0 when the lock was free, 3 when someone holds it, 1 on any
// other error.
func tryLockOnce(statePath string) int {
	f, err := os.OpenFile(statePath+lockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 1
	}
	defer f.Close()
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); {
	case err == nil:
		return 0
	case errors.Is(err, unix.EWOULDBLOCK):
		return 3
	}
	return 1
}

func otherProcessTriesLock(t *testing.T, statePath string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+statePath)
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestStateLockExcludesOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	unlock, err := lockState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + lockSuffix); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v", fi, err)
	}

	// Held: another process cannot take it, nor can another open in this
	// process, which waits until its context ends.
	if code := otherProcessTriesLock(t, path); code != 3 {
		t.Fatalf("another process got exit %d while the lock was held; want 3 (would block)", code)
	}
	if code := tryLockOnce(path); code != 3 {
		t.Fatalf("a second open in this process got %d; want 3 (would block)", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lockState(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lockState while held: %v", err)
	}

	// A waiter gets it as soon as it is released.
	got := make(chan error, 1)
	go func() {
		u, err := lockState(context.Background(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("waiter returned while the lock was held: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if code := otherProcessTriesLock(t, path); code != 0 {
		t.Fatalf("another process got exit %d after release; want 0", code)
	}
}

func TestStateLockRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), path+lockSuffix); err != nil {
		t.Fatal(err)
	}
	if _, err := lockState(context.Background(), path); err == nil {
		t.Fatal("locked through a symlink")
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the symlink's target was created")
	}
}

func TestSaveWaitsForTheLock(t *testing.T) {
	f := newFakeVault(t)
	path := f.stateFile(t)
	s := mustLoad(t, path)
	unlock, err := lockState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s.Generation = 7
		done <- s.Save(path)
	}()
	select {
	case err := <-done:
		t.Fatalf("Save did not wait for the lock: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	if mustLoad(t, path).Generation != 1 {
		t.Fatal("state written under someone else's lock")
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if mustLoad(t, path).Generation != 7 {
		t.Fatal("save lost")
	}
}

// A proof is built under the state's lock: the agent's proof mode writes
// proofs beside logins that may be promoting the generation it reads.
func TestNewLoginRequestWaitsForTheLock(t *testing.T) {
	f := newFakeVault(t)
	path := f.stateFile(t)
	unlock, err := lockState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := newAuth(t, path).NewLoginRequest(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewLoginRequest under another holder's lock: %v", err)
	}
	unlock()
	if _, _, err := newAuth(t, path).NewLoginRequest(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
