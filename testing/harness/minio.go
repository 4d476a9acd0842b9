package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

var minioBinary = &pinnedBinary{name: "MinIO", env: "MINIO_BIN", script: "build-minio.sh"}

// MinIOBinary returns $MINIO_BIN, or builds (or finds cached) the pinned
// MinIO with scripts/build-minio.sh, once per process. A cold build takes
// several minutes.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	return minioBinary.get(t)
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
	minioReapOnce.Do(func() {
		reapStale(minioDirPrefix, "minio-server.sh", "data", "minio.log", "minio.pid", "root.env", "root.env.tmp")
	})
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
	startOnFreePort(t, "MinIO", func(port int) (bool, error) {
		_, err := runScript(env, "minio-server.sh", "start", dir, strconv.Itoa(port))
		if err != nil && strings.Contains(err.Error(), "already in use") {
			os.Remove(filepath.Join(dir, "root.env")) // it names the refused port
			return true, err
		}
		return false, err
	})
	m.readRootEnv(t)
	return m
}

// readRootEnv reads DIR/root.env (lines `export NAME=VALUE`, as printf %q
// quotes them; the script's values need no quoting).
func (m *MinIO) readRootEnv(t testing.TB) {
	t.Helper()
	env, err := readEnvFile(filepath.Join(m.Dir, "root.env"))
	if err != nil {
		t.Fatal(err)
	}
	m.Addr, m.RootUser, m.RootPassword = env["MINIO_ADDR"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]
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
