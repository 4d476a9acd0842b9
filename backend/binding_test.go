package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// failingDeletes is storage whose deletes fail after the first `left`.
type failingDeletes struct {
	logical.Storage
	left int
}

func (s *failingDeletes) Delete(ctx context.Context, key string) error {
	if s.left == 0 {
		return errors.New("storage unavailable")
	}
	s.left--
	return s.Storage.Delete(ctx, key)
}

// clientKeys lists the client and entropy keys of storage.
func clientKeys(t testing.TB, s logical.Storage) []string {
	t.Helper()
	var out []string
	for _, k := range keysOf(storageSnapshot(t, s)) {
		if strings.HasPrefix(k, clientPrefix) || strings.HasPrefix(k, entropyPrefix) {
			out = append(out, k)
		}
	}
	return out
}

var webRole = map[string]interface{}{"token_policies": "web-read", "token_period": "10m"}

// TestInterruptedRoleDeletion: a role deletion that fails after k storage
// deletes, then the role created again with the same policies. No client of
// the first role logs in under the second, and tidy removes them all.
func TestInterruptedRoleDeletion(t *testing.T) {
	// One delete for the role, one for each client (its one entry).
	const clients = 3
	for k := 1; k < 1+clients; k++ {
		t.Run(fmt.Sprintf("fails after %d deletes", k), func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
			var old []*testClient
			for i := range clients {
				c := enroll(t, b, s, "web", map[string]interface{}{"client_id": fmt.Sprintf("c%d", i)})
				mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
				old = append(old, c)
			}
			if _, err := request(t, b, &failingDeletes{Storage: s, left: k}, logical.DeleteOperation, "role/web", nil); err == nil {
				t.Fatal("the interrupted deletion reported success")
			}
			if len(clientKeys(t, s)) == 0 {
				t.Fatal("the deletion was not interrupted")
			}
			mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)

			for _, c := range old {
				mustFail(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			}
			ids, _ := mustOK(t, b, s, logical.ListOperation, "role/web/client/", nil).Data["keys"].([]string)
			for _, id := range ids {
				if d := mustOK(t, b, s, logical.ReadOperation, "role/web/client/"+id, nil).Data; d["orphaned"] != true {
					t.Fatalf("left-over client %s reads as not orphaned", id)
				}
			}
			mustTidy(t, b, s)
			if left := clientKeys(t, s); len(left) != 0 {
				t.Fatalf("tidy kept %v", left)
			}
			// The name is free again, for a client of the new role; the
			// old entropy is not its own.
			c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "c0"})
			mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			if _, err := request(t, b, s, logical.UpdateOperation, "login", old[0].loginData(t)); err != logical.ErrPermissionDenied {
				t.Fatalf("the old c0 logged in as the new one: %v", err)
			}
		})
	}
}

// TestEnrollReplacesAnOrphan: enrolling the name of a client left by an
// interrupted deletion replaces it, without waiting for tidy.
func TestEnrollReplacesAnOrphan(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
	old := enroll(t, b, s, "web", map[string]interface{}{"client_id": "c0"})
	request(t, b, &failingDeletes{Storage: s, left: 1}, logical.DeleteOperation, "role/web", nil)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "c0"})
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	if _, err := request(t, b, s, logical.UpdateOperation, "login", old.loginData(t)); err != logical.ErrPermissionDenied {
		t.Fatalf("the orphan's entropy logged in: %v", err)
	}
	// A client of this role is not replaced.
	mustFail(t, b, s, logical.UpdateOperation, "role/web/enroll", map[string]interface{}{"client_id": "c0"})
}

func TestRoleInstanceIDKeptByUpdates(t *testing.T) {
	b, s := getTestBackend(t)
	ctx := context.Background()
	mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
	first, _ := b.role(ctx, s, "web")
	if len(first.InstanceID) != 2*bindingIDBytes {
		t.Fatalf("instance ID %q", first.InstanceID)
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_ttl": "5m"})
	if r, _ := b.role(ctx, s, "web"); r.InstanceID != first.InstanceID {
		t.Fatal("an update changed the instance ID")
	}
	mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
	if r, _ := b.role(ctx, s, "web"); r.InstanceID == first.InstanceID {
		t.Fatal("a role created again kept the instance ID")
	}
}

// renew renews auth as Vault's token store does, and reports whether it was
// renewed.
func renew(t *testing.T, b *entropyBackend, s logical.Storage, auth *logical.Auth) bool {
	t.Helper()
	req := &logical.Request{Operation: logical.RenewOperation, Path: "login", Storage: s, Auth: auth}
	resp, err := b.HandleRequest(context.Background(), req)
	if err == nil && resp != nil && resp.Auth != nil && !resp.IsError() {
		return true
	}
	if resp != nil && resp.Auth != nil {
		t.Fatal("a refused renewal returned auth")
	}
	return false
}

func TestSameBindingID(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"0123", "0123", true},
		{"0123", "0124", false},
		{"0123", "", false},
		{"", "0123", false},
		{"", "", false}, // a missing ID matches nothing, not another missing one
	} {
		if got := sameBindingID(tc.a, tc.b); got != tc.want {
			t.Errorf("sameBindingID(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestRenewalBoundToEnrollment: a periodic token renews only while its
// client is the enrollment, and its role the instance, it was issued for.
func TestRenewalBoundToEnrollment(t *testing.T) {
	cases := map[string]struct {
		before func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) // before the login
		after  func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient)
		strip  bool // the token carries no binding IDs
		ok     bool
	}{
		"unchanged": {ok: true},
		"client deleted and enrolled again": {after: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
			enroll(t, b, s, "web", map[string]interface{}{"client_id": c.id})
		}},
		"client deleted and enrolled again, keeping its identity": {after: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
			enroll(t, b, s, "web", map[string]interface{}{"client_id": c.id, "keep_identity": true})
		}},
		"role deleted and created again with the same policies, client enrolled again": {after: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
			enroll(t, b, s, "web", map[string]interface{}{"client_id": c.id})
		}},
		"role deleted half-way and created again with the same policies": {after: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			request(t, b, &failingDeletes{Storage: s, left: 1}, logical.DeleteOperation, "role/web", nil)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
			readClient(t, b, s, "web", c.id) // still there
		}},
		"token without binding IDs": {strip: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
			c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
			if tc.before != nil {
				tc.before(t, b, s, c)
			}
			auth := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t)).Auth
			auth.TokenPolicies = auth.Policies // Vault's core does this when it creates the token
			if auth.Period == 0 {
				t.Fatal("the token is not periodic")
			}
			if tc.strip {
				delete(auth.InternalData, metaEnrollmentID)
				delete(auth.InternalData, metaRoleInstanceID)
			}
			if !renew(t, b, s, auth) {
				if tc.ok {
					t.Fatal("renewal refused before any change")
				}
				if !tc.strip {
					t.Fatal("a fresh token did not renew")
				}
			}
			if tc.after != nil {
				tc.after(t, b, s, c)
			}
			if got := renew(t, b, s, auth); got != tc.ok {
				t.Fatalf("renewed = %v, want %v", got, tc.ok)
			}
		})
	}
}

// TestReenrolledClientGetsFreshAlias: each enrollment has its own alias
// (so its own entity) unless keep_identity asks for the shared one; the
// alias lookahead names the alias the login gets.
func TestReenrolledClientGetsFreshAlias(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", webRole)
	aliasOf := func(c *testClient) string {
		t.Helper()
		looked := mustOK(t, b, s, logical.AliasLookaheadOperation, "login", c.loginData(t)).Auth.Alias.Name
		got := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t)).Auth.Alias.Name
		if looked != got {
			t.Fatalf("lookahead alias %q, login alias %q", looked, got)
		}
		if read := mustOK(t, b, s, logical.ReadOperation, "role/web/client/"+c.id, nil).Data["alias_name"]; read != got {
			t.Fatalf("client read alias_name %q, login alias %q", read, got)
		}
		return got
	}
	reenroll := func(data map[string]interface{}) *testClient {
		t.Helper()
		mustOK(t, b, s, logical.DeleteOperation, "role/web/client/agent-1", nil)
		data["client_id"] = "agent-1"
		return enroll(t, b, s, "web", data)
	}

	first := aliasOf(enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"}))
	if !strings.HasPrefix(first, "web/agent-1/") {
		t.Fatalf("alias %q", first)
	}
	second := aliasOf(reenroll(map[string]interface{}{}))
	if second == first || !strings.HasPrefix(second, "web/agent-1/") {
		t.Fatalf("re-enrolled alias %q, first %q", second, first)
	}
	kept := aliasOf(reenroll(map[string]interface{}{"keep_identity": true}))
	if kept != "web/agent-1" {
		t.Fatalf("keep_identity alias %q", kept)
	}
	if again := aliasOf(reenroll(map[string]interface{}{"keep_identity": true})); again != kept {
		t.Fatalf("keep_identity twice: %q then %q", kept, again)
	}
	// An unknown client gets the shared form: the lookahead tells nothing.
	d := reenroll(map[string]interface{}{}).loginData(t)
	d["client_id"] = "ghost"
	if got := mustOK(t, b, s, logical.AliasLookaheadOperation, "login", d).Auth.Alias.Name; got != "web/ghost" {
		t.Fatalf("unknown client's lookahead alias %q", got)
	}
}
