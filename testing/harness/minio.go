package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// MinIO is one MinIO server run by scripts/minio-server.sh: S3 and STS
// (AssumeRole) on Addr, its objects and log in Dir.
type MinIO struct {
	Dir  string // data/, minio.log, minio.pid, root.env
	Addr string // http://127.0.0.1:PORT
	// RootUser and RootPassword are the root credentials (an access key
	// and its secret key), random, from DIR/root.env. Never log the
	// password.
	RootUser     string
	RootPassword string
}

var (
	minioOnce sync.Once
	minioBin  string
	minioErr  error
)

// MinIOBinary returns $MINIO_BIN, or builds (or finds cached) the pinned
// MinIO with scripts/build-minio.sh, once per process. A cold build takes
// several minutes.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	minioOnce.Do(func() {
		if v := os.Getenv("MINIO_BIN"); v != "" {
			minioBin = v
			return
		}
		minioBin, minioErr = runScript(nil, "build-minio.sh")
	})
	if minioErr != nil {
		t.Fatalf("building MinIO: %v", minioErr)
	}
	return minioBin
}

// minioDirPrefix starts the name of each server's directory in
// os.TempDir(), followed by the test process's pid.
const minioDirPrefix = "entropy-minio-"

var minioReapOnce sync.Once

// StartMinIO starts a MinIO server on a free loopback port in a fresh
// directory, os.TempDir()/entropy-minio-PID-*. When the test ends the
// server is stopped and the directory removed; if the test failed, the end
// of the server log goes to the test log first.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	minioReapOnce.Do(minioReapStale)
	bin := MinIOBinary(t)
	dir, err := os.MkdirTemp("", minioDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		t.Fatal(err)
	}
	m := &MinIO{Dir: dir}
	env := []string{"MINIO_BIN=" + bin}
	// Registered first, so it runs after the stop below.
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last 60 lines of %s/minio.log:\n%s", dir, tail(m.Log(t), 60))
		}
		if _, err := runScript(env, "minio-server.sh", "stop", dir); err != nil {
			t.Errorf("stopping MinIO: %v", err)
		}
	})
	// FreePort's port may be taken by someone else before MinIO binds it;
	// the script then refuses it, and another is tried.
	var lastErr error
	for range 3 {
		if _, lastErr = runScript(env, "minio-server.sh", "start", dir, strconv.Itoa(FreePort(t))); lastErr == nil {
			m.readRootEnv(t)
			return m
		}
		if !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
		os.Remove(filepath.Join(dir, "root.env")) // it names the refused port
	}
	t.Fatalf("starting MinIO: %v", lastErr)
	return nil
}

// readRootEnv reads DIR/root.env (lines `export NAME=VALUE`, as printf %q
// quotes them; the script's values need no quoting).
func (m *MinIO) readRootEnv(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.Dir, "root.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `'"`)
		switch k {
		case "MINIO_ADDR":
			m.Addr = v
		case "MINIO_ROOT_USER":
			m.RootUser = v
		case "MINIO_ROOT_PASSWORD":
			m.RootPassword = v
		}
	}
	if m.Addr == "" || m.RootUser == "" || m.RootPassword == "" {
		t.Fatalf("%s/root.env lacks MINIO_ADDR, MINIO_ROOT_USER or MINIO_ROOT_PASSWORD", m.Dir)
	}
}

// Log returns DIR/minio.log.
func (m *MinIO) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.Dir, "minio.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Logf("reading the MinIO log: %v", err)
	}
	return string(b)
}

// minioReapStale stops the servers and removes the directories that
// earlier test processes left in os.TempDir() (entropy-minio-PID-*, PID
// gone): a test binary killed by -timeout exits without running its
// cleanups, and its MinIO, detached in its own session, would run on. Only
// directories laid out as scripts/minio-server.sh makes them are touched.
func minioReapStale() {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), minioDirPrefix+"*-*"))
next:
	for _, d := range old {
		p, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), minioDirPrefix), "-")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // still running (or the pid was reused: leave it)
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			switch e.Name() {
			case "data", "minio.log", "minio.pid", "root.env", "root.env.tmp":
			default:
				continue next // not only what the script makes: not ours to remove
			}
		}
		if _, err := runScript(nil, "minio-server.sh", "stop", d); err == nil {
			os.RemoveAll(d)
		}
	}
}
