package failover

import (
	"context"
	"fmt"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// checkClients reads every client's record (not locked, no failed login
// counted) and logs each client in again with the library through every
// node, the restarted ones included.
func checkClients(t *testing.T, c *harness.Cluster, ids []string, auths []*client.EntropyAuth) {
	t.Helper()
	ctx := context.Background()
	for k, id := range ids {
		path := "auth/" + mount + "/role/" + role + "/client/" + id
		rec, err := c.Client(t).Logical().ReadWithContext(ctx, path)
		if err != nil || rec == nil {
			t.Errorf("reading %s: %v (record %v)", path, err, rec != nil)
			continue
		}
		if locked, _ := rec.Data["locked"].(bool); locked || fmt.Sprint(rec.Data["failed_logins"]) != "0" {
			t.Errorf("client %s: locked=%v failed_logins=%v after the failover, want an unlocked client with no failure counted",
				id, rec.Data["locked"], rec.Data["failed_logins"])
		}
		for i, n := range c.Nodes {
			vc, err := n.Client.Clone()
			if err != nil {
				t.Fatal(err)
			}
			// The library retries the named "make a new proof" refusal by
			// itself; any other refusal fails the login.
			if _, err := vc.Auth().Login(ctx, auths[k]); err != nil {
				t.Errorf("client %s: logging in again through node%d: %v", id, i+1, err)
			}
		}
	}
}
