package client

// The lock's semantics, through the portable API (lockState, openLockFile,
// tryLockFile): these tests build and run on every platform with a lock,
// Windows (LockFileEx) as well as Linux and macOS (flock). `make cross-vet`
// compiles them for Windows; they have not been run there (see
// docs/install.md).

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
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
	f, err := openLockFile(statePath + lockSuffix)
	if err != nil {
		return 1
	}
	defer f.Close()
	switch locked, err := tryLockFile(f); {
	case err != nil:
		return 1
	case !locked:
		return 3
	}
	if err := unlockFile(f); err != nil {
		return 1
	}
	return 0
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
	fi, err := os.Stat(path + lockSuffix)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("lock file: %v, %v", fi, err)
	}
	// Windows has no mode bits (see owner_other.go).
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %04o, want 0600", fi.Mode().Perm())
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
		if runtime.GOOS == "windows" {
			// Creating a symlink needs a privilege or developer mode.
			t.Skipf("cannot create a symlink here: %v", err)
		}
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

// The lock is released by its unlock function, and also when its holder
// closes the file without unlocking (a process that dies): the next taker
// does not wait.
func TestStateLockIsReleasedWithItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, err := openLockFile(path + lockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if locked, err := tryLockFile(f); err != nil || !locked {
		t.Fatalf("tryLockFile on a free lock: %v, %v", locked, err)
	}
	if code := tryLockOnce(path); code != 3 {
		t.Fatalf("another open got %d while held; want 3", code)
	}
	f.Close()
	// Windows may release a closed handle's lock a little later.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unlock, err := lockState(ctx, path)
	if err != nil {
		t.Fatalf("lockState after the holder closed its file: %v", err)
	}
	unlock()
	unlock2, err := lockState(context.Background(), path)
	if err != nil {
		t.Fatalf("lockState after unlock: %v", err)
	}
	unlock2()
}

// A lock file that is a directory is refused, not waited on or followed.
func TestStateLockRefusesANonRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.Mkdir(path+lockSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := lockState(ctx, path); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lockState on a directory: %v, want a refusal", err)
	}
}
