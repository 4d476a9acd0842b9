package integration

// Issue 12: tokens and identities are bound to the enrollment and the role
// instance they came from, on a real Vault. A client deleted and enrolled
// again under the same name, or a role deleted and created again with the
// same policies, does not revive the old periodic tokens, and the new client
// gets a fresh entity unless keep_identity asked for the shared one.

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// enrollWith enrolls clientID in role with extra enrollment fields, wrapped
// and unwrapped through the library like harness.Enroll, and returns the
// state file's path.
func (e *env) enrollWith(t *testing.T, role, clientID string, fields map[string]interface{}) string {
	t.Helper()
	c, err := e.Client.Clone()
	must(t, err)
	c.SetToken(e.RootToken)
	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	data := map[string]interface{}{"client_id": clientID}
	for k, v := range fields {
		data[k] = v
	}
	wrapped, err := c.Logical().WriteWithContext(t.Context(), entropyMount+"/role/"+role+"/enroll", data)
	must(t, err)
	if wrapped == nil || wrapped.WrapInfo == nil {
		t.Fatal("enrollment was not wrapped")
	}
	state, err := client.Unwrap(t.Context(), e.Client, wrapped.WrapInfo.Token)
	must(t, err)
	path := filepath.Join(t.TempDir(), "state.json")
	must(t, state.Save(path))
	return path
}

// loginToken logs in with a state file and returns the token's client and
// its entity ID (from auth/token/lookup-self).
func (e *env) loginToken(t *testing.T, state string) (*api.Client, string) {
	t.Helper()
	secret, err := e.login(t, state)
	must(t, err)
	tc := e.TokenClient(t, secret.Auth.ClientToken)
	self, err := tc.Auth().Token().LookupSelfWithContext(t.Context())
	must(t, err)
	entity, _ := self.Data["entity_id"].(string)
	if entity == "" {
		t.Fatal("the token has no entity")
	}
	return tc, entity
}

func renews(t *testing.T, tc *api.Client) bool {
	t.Helper()
	_, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 0)
	return err == nil
}

func (e *env) deleteClient(t *testing.T, role, id string) {
	t.Helper()
	_, err := e.Client.Logical().DeleteWithContext(t.Context(), entropyMount+"/role/"+role+"/client/"+id)
	must(t, err)
}

// TestBindingSurvivesReenrollment: periodic tokens of a deleted client or a
// deleted role never renew again, whatever is created afterwards under the
// same names, and each enrollment has its own entity unless keep_identity.
func TestBindingSurvivesReenrollment(t *testing.T) {
	e := newEnv(t, "entropy")
	role := map[string]interface{}{"token_policies": "web-read", "token_period": "10m"}
	e.lifecycleRole(t, "web", role)

	first := e.enrollToState(t, entropyMount, "web", "agent")
	tc1, entity1 := e.loginToken(t, first)
	if !renews(t, tc1) {
		t.Fatal("a fresh periodic token did not renew")
	}

	// Theft response: delete the client, enroll it again.
	e.deleteClient(t, "web", "agent")
	second := e.enrollToState(t, entropyMount, "web", "agent")
	if renews(t, tc1) {
		t.Fatal("the deleted client's periodic token renewed after the name was enrolled again")
	}
	if _, err := e.login(t, first); err == nil {
		t.Fatal("the deleted client's state logged in")
	}
	tc2, entity2 := e.loginToken(t, second)
	if entity2 == entity1 {
		t.Fatal("the re-enrolled client inherited the deleted client's entity")
	}
	if !renews(t, tc2) {
		t.Fatal("the re-enrolled client's token did not renew")
	}

	// keep_identity: every enrollment made with it shares one entity.
	e.deleteClient(t, "web", "agent")
	kept1 := e.enrollWith(t, "web", "agent", map[string]interface{}{"keep_identity": true})
	_, entity3 := e.loginToken(t, kept1)
	e.deleteClient(t, "web", "agent")
	kept2 := e.enrollWith(t, "web", "agent", map[string]interface{}{"keep_identity": true})
	tc4, entity4 := e.loginToken(t, kept2)
	if entity4 != entity3 || entity3 == entity2 {
		t.Fatalf("keep_identity entities %s then %s (per-enrollment: %s)", entity3, entity4, entity2)
	}

	// The role deleted and created again with the same policies, and the
	// client enrolled again: the old role's tokens do not renew.
	if !renews(t, tc4) {
		t.Fatal("renewal refused before the role was deleted")
	}
	_, err := e.Client.Logical().DeleteWithContext(t.Context(), entropyMount+"/role/web")
	must(t, err)
	e.lifecycleRole(t, "web", role)
	third := e.enrollWith(t, "web", "agent", map[string]interface{}{"keep_identity": true})
	if renews(t, tc4) {
		t.Fatal("a token of the deleted role renewed under the role created again")
	}
	if _, err := e.login(t, kept2); err == nil {
		t.Fatal("a client of the deleted role logged in")
	}
	if tc5, _ := e.loginToken(t, third); !renews(t, tc5) {
		t.Fatal("the new role's token did not renew")
	}
}
