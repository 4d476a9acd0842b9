package adversarial

import (
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/proc"
)

// pluginPID finds the plugin process Vault started: a child of the server
// whose command name is the plugin binary's (cut to 15 bytes by Linux).
// It fails the test if there is not exactly one.
func pluginPID(t testing.TB, s *harness.Server) int {
	t.Helper()
	parent := s.PID(t)
	var found []int
	for _, c := range proc.Children(parent) {
		if c.Comm != "" && strings.HasPrefix("vault-plugin-auth-entropy", c.Comm) {
			found = append(found, c.PID)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one plugin process under Vault (pid %d), found %v", parent, found)
	}
	return found[0]
}

// cpuTime is the CPU time used so far by Vault and by the plugin.
func (e *env) cpuTime(t testing.TB) (vault, plugin time.Duration) {
	t.Helper()
	v, err := proc.ReadStat(e.PID(t))
	if err != nil {
		t.Fatalf("Vault's process: %v", err)
	}
	p, err := proc.ReadStat(e.pluginPID)
	if err != nil {
		t.Fatalf("the plugin process: %v", err)
	}
	return v.CPU, p.CPU
}
