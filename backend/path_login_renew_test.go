package backend

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestRenewalRefusalsAre403: a renewal that re-checks and refuses is a
// refusal, not a fault: Vault answers it 403 permission denied (not 500),
// with the reason in the server log and nothing about it in the answer.
// Vault's expiration manager wraps the backend's error ("failed to renew
// entry: %w") and its HTTP layer maps it with logical.RespondErrorCommon:
// the test does the same.
func TestRenewalRefusalsAre403(t *testing.T) {
	cases := map[string]struct {
		change func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient)
		reason string
	}{
		"locked by an operator": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.UpdateOperation, "role/web/client/"+c.id+"/lock", map[string]interface{}{"reason": "investigating"})
		}, renewLocked},
		"locked for an hour": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.UpdateOperation, "role/web/client/"+c.id+"/lock", map[string]interface{}{"duration": "1h"})
		}, renewLocked},
		"client deleted": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
		}, renewClientGone},
		"client enrolled again": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
			enroll(t, b, s, "web", map[string]interface{}{"client_id": c.id})
		}, renewOtherEnrollment},
		"role deleted": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
		}, renewRoleGone},
		"client expired": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			expireClient(t, b, s, c)
		}, renewExpired},
		"policies changed": {func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read,admin"})
		}, renewPolicies},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s, logs := getLoggedTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read", "token_ttl": "10m"})
			c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
			auth := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t)).Auth
			auth.TokenPolicies = auth.Policies // Vault's core does this when it creates the token
			renew := func() (*logical.Response, error) {
				req := &logical.Request{Operation: logical.RenewOperation, Path: "login", Storage: s, Auth: auth}
				return b.HandleRequest(context.Background(), req)
			}
			if resp, err := renew(); err != nil || resp == nil || resp.Auth == nil {
				t.Fatalf("a fresh token does not renew: %v, %v", resp, err)
			}
			tc.change(t, b, s, c)
			resp, err := renew()
			if err == nil && resp != nil && resp.Auth != nil {
				t.Fatal("renewed")
			}
			vaultErr := fmt.Errorf("failed to renew entry: %w", err)
			status, _ := logical.RespondErrorCommon(&logical.Request{Operation: logical.UpdateOperation, Path: "auth/token/renew-self"}, nil, vaultErr)
			if status != http.StatusForbidden {
				t.Fatalf("renewal refused with HTTP %d (%v), want 403", status, err)
			}
			if err.Error() != logical.ErrPermissionDenied.Error() {
				t.Fatalf("the answer says %q: more than permission denied", err)
			}
			if log := logs.String(); !strings.Contains(log, "renewal refused") || !strings.Contains(log, tc.reason) {
				t.Fatalf("the log lacks the reason %q:\n%s", tc.reason, log)
			}
		})
	}
}
