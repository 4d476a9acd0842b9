package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// countingSystemView counts the replication questions a backend asks
// Vault, each a round trip from the plugin.
type countingSystemView struct {
	*logical.StaticSystemView
	localMount int
}

func (c *countingSystemView) LocalMount() bool {
	c.localMount++
	return c.StaticSystemView.LocalMount()
}

// TestLoginsAskReplicationOnce: back-to-back logins ask Vault whether the
// mount is a replicated one on a secondary once, not at every login.
func TestLoginsAskReplicationOnce(t *testing.T) {
	sys := &countingSystemView{StaticSystemView: logical.TestSystemView()}
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.System = sys
	b, s := newTestBackend(t, conf), conf.StorageView
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", nil)
	sys.localMount = 0
	for range 5 {
		mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	}
	if sys.localMount > 1 {
		t.Fatalf("5 logins asked LocalMount %d times, want at most once", sys.localMount)
	}
}
