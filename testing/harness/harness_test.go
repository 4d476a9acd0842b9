package harness

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerSurvivesRestartAndCrash checks the scripts themselves: the
// server starts, its root token works and its data persists after a
// graceful restart and after a SIGKILL, and stop leaves nothing running.
func TestServerSurvivesRestartAndCrash(t *testing.T) {
	Integration(t)
	s := StartServer(t)
	if !strings.HasPrefix(s.Addr, "http://127.0.0.1:") {
		t.Fatalf("Addr %q is not on loopback", s.Addr)
	}
	if info, err := os.Stat(filepath.Join(s.Dir, "init.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("init.json: %v, %v (want mode 0600)", info, err)
	}
	if err := s.Client.Sys().PutPolicy("probe", `path "secret/probe" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		bounce func(testing.TB)
	}{{"restart", s.Restart}, {"kill", s.Kill}}
	for _, step := range steps {
		before := s.PID(t)
		step.bounce(t)
		if after := s.PID(t); after == before {
			t.Fatalf("after %s: still pid %d", step.name, after)
		}
		if _, err := s.Client.Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("after %s: root token: %v", step.name, err)
		}
		if p, err := s.Client.Sys().GetPolicy("probe"); err != nil || p == "" {
			t.Fatalf("after %s: policy %q, %v", step.name, p, err)
		}
	}
	if out, err := s.Vault(t, nil, "token", "lookup", "-format=json"); err != nil || !strings.Contains(out, `"policies"`) {
		t.Fatalf("vault CLI: %q, %v", out, err)
	}

	last := s.PID(t)
	script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "vault-server.sh", "stop", s.Dir)
	if processRuns(last) {
		t.Errorf("pid %d still runs after stop", last)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "vault.pid")); !os.IsNotExist(err) {
		t.Errorf("vault.pid left after stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.Addr, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after stop", s.Addr)
	}
}
