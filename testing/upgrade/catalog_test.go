package upgrade

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// The catalog steps of docs/install.md, with the stock vault CLI: each
// version's binary under its own name in the plugin directory, registered
// by sha256 and version, the mount following the pin.
const (
	pluginName = "vault-plugin-auth-entropy"
	mount      = "entropy"
	mountPath  = "auth/" + mount
)

// register copies b's plugin into the server's plugin directory as
// vault-plugin-auth-entropy_<version> and registers it by sha256 and
// version; it returns the sha256.
func register(t *testing.T, s *harness.Server, b build) string {
	t.Helper()
	command := pluginName + "_" + b.version
	sum := install(t, b.plugin, filepath.Join(s.Dir, "plugins", command))
	vault(t, s, "plugin", "register", "-sha256="+sum, "-version="+b.version, "-command="+command, "auth", pluginName)
	return sum
}

// pin makes every mount of the plugin run b's version (at the next reload).
func pin(t *testing.T, s *harness.Server, b build) {
	t.Helper()
	vault(t, s, "write", "sys/plugins/pins/auth/"+pluginName, "version="+b.version)
}

// reload restarts the plugin's mounts on the pinned version, as an
// operator does it: the whole cluster (-scope=global), here one node.
func reload(t *testing.T, s *harness.Server) {
	t.Helper()
	vault(t, s, "plugin", "reload", "-type=auth", "-plugin="+pluginName, "-scope=global")
}

// checkRunning fails the test unless auth/entropy runs b's version, and
// the binary registered for it (sha256).
func checkRunning(t *testing.T, s *harness.Server, when string, b build) {
	t.Helper()
	if v, sum := running(t, s); v != b.version || sum != b.sha256 {
		t.Fatalf("%s auth/%s runs %s (sha256 %s), want the %s build's %s (sha256 %s)", when, mount, v, sum, b.name, b.version, b.sha256)
	}
}

// running is the version and sha256 auth/entropy runs, as sys/auth
// reports them.
func running(t *testing.T, s *harness.Server) (version, sha256 string) {
	t.Helper()
	auths, err := s.Client.Sys().ListAuthWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m, ok := auths[mount+"/"]
	if !ok {
		t.Fatalf("no auth/%s", mount)
	}
	return m.RunningVersion, m.RunningSha256
}

func vault(t *testing.T, s *harness.Server, args ...string) string {
	t.Helper()
	out, err := s.Vault(t, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// install copies src to dst, mode 0755, and returns dst's sha256 in hex.
func install(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
