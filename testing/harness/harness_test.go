package harness

import "testing"

// TestServerSurvivesRestartAndCrash checks the scripts themselves: the
// server starts, its root token works after a graceful restart and after a
// SIGKILL, and the data persists.
func TestServerSurvivesRestartAndCrash(t *testing.T) {
	Integration(t)
	s := StartServer(t)
	if _, err := s.Client.Logical().Write("sys/policies/acl/probe", map[string]interface{}{"policy": `path "x" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	for name, bounce := range map[string]func(testing.TB){"restart": s.Restart, "kill": s.Kill} {
		bounce(t)
		p, err := s.Client.Sys().GetPolicy("probe")
		if err != nil || p == "" {
			t.Fatalf("after %s: policy %q, %v", name, p, err)
		}
	}
	if out, err := s.Vault(t, nil, "token", "lookup", "-format=json"); err != nil || out == "" {
		t.Fatalf("vault CLI: %v", err)
	}
}
