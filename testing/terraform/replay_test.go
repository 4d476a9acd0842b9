package terraform

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// TestReplay applies the example to a real Vault the way the provider
// would, then runs both workload configurations against it.
func TestReplay(t *testing.T) {
	harness.Integration(t)
	ctx := context.Background()
	op := loadExample(t, operatorDir)
	login := loadExample(t, workloadLoginDir)
	tokenFile := loadExample(t, workloadTokenFile)

	s := harness.StartServer(t)
	opVars := installPlugin(t, s, op)

	// The operator runs Terraform with an administrator's token in
	// VAULT_TOKEN (here the root token): the provider looks it up and
	// derives its child token before touching any resource.
	opSess, err := configure(ctx, s.Addr, s.RootToken)
	if err != nil {
		t.Fatalf("configuring the operator's provider: %v", err)
	}
	order, err := dependencyOrder(op)
	if err != nil {
		t.Fatal(err)
	}
	resolve := op.resolver(opVars)
	for _, r := range order {
		if !t.Run(resourceKey(r), func(t *testing.T) { replayResource(t, ctx, opSess.Client, op, r, resolve) }) {
			t.FailNow()
		}
	}

	// Outside Terraform, as docs/terraform.md says: the operator enrolls
	// the workload's client (the response carries its entropy) and puts the
	// secret the workload reads.
	loginVars, err := login.tfvarValues()
	if err != nil {
		t.Fatal(err)
	}
	role, _ := loginVars["entropy_role"].(string)
	clientID, _ := loginVars["entropy_client_id"].(string)
	if role == "" || clientID == "" {
		t.Fatal("workload-login/terraform.tfvars.example must set entropy_role and entropy_client_id")
	}
	state := s.Enroll(t, "auth/entropy", role, clientID)
	// `vault kv put -mount=secret terraform/app ...` is this write; through
	// the API so that the value never appears in a command line or a log.
	secretValue := randomHex(t)
	wantSecret := map[string]interface{}{"username": "app", "password": secretValue}
	s.Write(t, "secret/data/terraform/app", map[string]interface{}{"data": wantSecret})

	t.Run("auth_login", func(t *testing.T) {
		p := providerBlock(t, login)
		al := onlyBlock(t, p, "auth_login")
		lr := freshProof(t, s, state)
		vars := withVars(loginVars, map[string]interface{}{"entropy_proof": lr.Proof})
		res := login.resolver(vars)
		path := stringAttr(t, al, "path", res)
		if path != lr.Path || role != lr.Role || clientID != lr.ClientID {
			t.Fatalf("the example logs in at %s as %s/%s; the enrolled client's proof is for %s as %s/%s", path, role, clientID, lr.Path, lr.Role, lr.ClientID)
		}
		params := stringParams(t, al, res)
		// A rotation is due at this login. The provider keeps only the
		// token: the receipt that carries the next generation (and would let
		// the client authenticate the server) is dropped.
		s.Write(t, fmt.Sprintf("auth/entropy/role/%s/client/%s/rotate", role, clientID), nil)
		secret, err := authLogin(ctx, s.Addr, path, params)
		if err != nil {
			t.Fatalf("auth_login: %v", err)
		}
		if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
			t.Fatal("auth_login: no token in the response")
		}
		if r, _ := secret.Data["receipt"].(string); r == "" {
			t.Error("the login response has no receipt")
		}
		if gen, pending := clientGenerations(t, s, role, clientID); gen != 1 || pending != 2 {
			t.Errorf("after auth_login: generation %d, pending %d; want 1 and 2", gen, pending)
		}
		if st, err := client.LoadState(state); err != nil || st.Generation != 1 || st.Pending != nil {
			t.Errorf("auth_login changed the client state: %v", err)
		}
		sess, err := configure(ctx, s.Addr, secret.Auth.ClientToken)
		if err != nil {
			t.Fatalf("the provider's setup with the entropy token: %v", err)
		}
		checkChild(t, sess, secret.Auth.Policies)
		applyWorkload(t, ctx, sess.Client, s.Client, login, wantSecret)

		// The same proof again, as a second Terraform phase configured with
		// the same variable would send it: refused, no token.
		again, err := authLogin(ctx, s.Addr, path, params)
		wantStatus(t, "a replayed proof", again, err, http.StatusForbidden)
	})

	t.Run("auth_login_token_file", func(t *testing.T) {
		p := providerBlock(t, tokenFile)
		tf := onlyBlock(t, p, "auth_login_token_file")
		// The doc's way: `vault-entropy agent -sink=PATH` keeps the token
		// file fresh; Terraform reads it.
		sink := filepath.Join(t.TempDir(), "token")
		startAgent(t, s, state, sink)
		tfVars, err := tokenFile.tfvarValues()
		if err != nil {
			t.Fatal(err)
		}
		filename := stringAttr(t, tf, "filename", tokenFile.resolver(withVars(tfVars, map[string]interface{}{"token_file": sink})))
		token, err := authLoginTokenFile(ctx, s.Addr, filename)
		if err != nil {
			t.Fatalf("auth_login_token_file: %v", err)
		}
		sess, err := configure(ctx, s.Addr, token)
		if err != nil {
			t.Fatalf("the provider's setup with the file's token: %v", err)
		}
		checkChild(t, sess, sess.Parent.Data["policies"])
		applyWorkload(t, ctx, sess.Client, s.Client, tokenFile, wantSecret)

		// The child token lives no longer than the token it came from: when
		// the agent's token is revoked (or reaches its max TTL), Terraform's
		// child token goes with it.
		accessor, _ := sess.Parent.Data["accessor"].(string)
		if err := s.Client.Auth().Token().RevokeAccessorWithContext(ctx, accessor); err != nil {
			t.Fatal(err)
		}
		_, err = sess.Client.Auth().Token().LookupSelfWithContext(ctx)
		wantStatus(t, "the child token after its parent's revocation", nil, err, http.StatusForbidden)

		// The provider refuses a token file others can read (a copy: the
		// agent owns its sink and rewrites it when it logs in again).
		readable := filepath.Join(t.TempDir(), "readable")
		if err := os.WriteFile(readable, []byte("hvs.not-a-token"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(readable, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		if _, err := readTokenFile(readable); err == nil || !strings.Contains(err.Error(), "invalid mode") {
			t.Errorf("a 0644 token file: %v, want invalid mode", err)
		}
	})

	// The role's policy must allow auth/token/create: with the same role
	// and a policy without it, the login works but the provider stops at
	// its child token, before it reads anything.
	t.Run("without auth/token/create", func(t *testing.T) {
		const policy = `path "secret/data/terraform/*" { capabilities = ["read"] }`
		if err := s.Client.Sys().PutPolicyWithContext(ctx, "terraform-no-child", policy); err != nil {
			t.Fatal(err)
		}
		roleData := exampleRoleData(t, op, opVars)
		roleData["token_policies"] = []string{"terraform-no-child"}
		s.Write(t, "auth/entropy/role/no-child", roleData)
		st := s.Enroll(t, "auth/entropy", "no-child", "ci-runner-2")
		lr := freshProof(t, s, st)
		secret, err := authLogin(ctx, s.Addr, lr.Path, map[string]string{"role": lr.Role, "client_id": lr.ClientID, "proof": lr.Proof})
		if err != nil || secret == nil || secret.Auth == nil {
			t.Fatalf("login: %v", err)
		}
		sess, err := configure(ctx, s.Addr, secret.Auth.ClientToken)
		wantStatus(t, "auth/token/create without the capability", sess, err, http.StatusForbidden)
		if err == nil || !strings.Contains(err.Error(), "failed to create limited child token") {
			t.Errorf("the refusal is not the child token's: %v", err)
		}
		// The same token may read the secret: only the child token step fails.
		c, err := newClient(s.Addr, secret.Auth.ClientToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Logical().ReadWithContext(ctx, "secret/data/terraform/app"); err != nil {
			t.Errorf("the entropy token cannot read the secret either: %v", err)
		}
	})

	// A batch token cannot create a child token at all, whatever its
	// policy: the role's token_type = "service" in the example matters.
	t.Run("batch token", func(t *testing.T) {
		roleData := exampleRoleData(t, op, opVars)
		roleData["token_type"] = "batch"
		s.Write(t, "auth/entropy/role/batch", roleData)
		st := s.Enroll(t, "auth/entropy", "batch", "ci-runner-3")
		lr := freshProof(t, s, st)
		secret, err := authLogin(ctx, s.Addr, lr.Path, map[string]string{"role": lr.Role, "client_id": lr.ClientID, "proof": lr.Proof})
		if err != nil || secret == nil || secret.Auth == nil {
			t.Fatalf("login: %v", err)
		}
		sess, err := configure(ctx, s.Addr, secret.Auth.ClientToken)
		if err == nil || sess != nil || !strings.Contains(err.Error(), "failed to create limited child token") {
			t.Fatalf("a batch token created a child token: %v", err)
		}
		t.Logf("batch token: %v", err)
	})

	// The third way in the doc: VAULT_TOKEN="$(vault-entropy login)" and a
	// provider block without auth_login (the operator's empty block): the
	// provider looks the token up and derives its child token.
	var mountToken string // a token the mount issued, for the destroy check
	t.Run("VAULT_TOKEN", func(t *testing.T) {
		out, err := s.CLI(t, nil, "", "login", "-state", state)
		if err != nil {
			t.Fatalf("vault-entropy login: %v", err)
		}
		mountToken = strings.TrimSpace(out)
		sess, err := configure(ctx, s.Addr, mountToken)
		if err != nil {
			t.Fatalf("the provider's setup with VAULT_TOKEN: %v", err)
		}
		checkChild(t, sess, sess.Parent.Data["policies"])
		applyWorkload(t, ctx, sess.Client, s.Client, tokenFile, wantSecret)
		// The agent's and vault-entropy login's logins read their receipts:
		// the rotation auth_login left pending has been taken up.
		if gen, _ := clientGenerations(t, s, role, clientID); gen < 2 {
			t.Errorf("generation %d after library logins; the rotation was not taken up", gen)
		}
	})

	// terraform destroy: a new run (a new child token), then each
	// resource's delete in reverse dependency order.
	t.Run("destroy", func(t *testing.T) {
		sess, err := configure(ctx, s.Addr, s.RootToken)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(order) - 1; i >= 0; i-- {
			destroyResource(t, ctx, sess.Client, order[i], resolve)
		}
		// Disabling the mount revoked the tokens it issued.
		if mountToken == "" {
			t.Fatal("no token from the VAULT_TOKEN step")
		}
		c, err := newClient(s.Addr, mountToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Auth().Token().LookupSelfWithContext(ctx)
		wantStatus(t, "a token of the disabled mount", nil, err, http.StatusForbidden)
	})
}
