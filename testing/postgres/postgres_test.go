package postgres

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// The database side exactly as docs/postgresql.md shows it
// (TestDocShowsWhatIsTested keeps the two the same).
const (
	knownRow = "entropy-e2e-known-row"

	// dbaSetup is what a DBA runs once: the table the workload reads, and
	// the role Vault connects as, which may create roles, grant SELECT on
	// that table (it holds the grant option) and end their sessions
	// (pg_signal_backend), and is no superuser. %s is its first password,
	// which Vault replaces at once (rotate-root).
	dbaSetup = `CREATE TABLE inventory (id integer PRIMARY KEY, item text NOT NULL);
INSERT INTO inventory VALUES (1, 'entropy-e2e-known-row');
CREATE ROLE vault WITH LOGIN CREATEROLE PASSWORD '%s';
GRANT SELECT ON inventory TO vault WITH GRANT OPTION;
GRANT pg_signal_backend TO vault;
`
	// creationSQL makes one login role per lease. VALID UNTIL is the
	// lease's expiry: PostgreSQL itself refuses the password after it,
	// even if Vault could not revoke the lease in time.
	creationSQL = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
GRANT SELECT ON inventory TO "{{name}}";
`
	// revocationSQL ends the role's open sessions too: Vault's default
	// revocation drops the role but leaves connected sessions running.
	revocationSQL = `REVOKE SELECT ON inventory FROM "{{name}}";
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
DROP ROLE IF EXISTS "{{name}}";
`
	dbPolicy = `path "database/creds/readonly" {
  capabilities = ["read"]
}
`
	credsPath = "database/creds/readonly"

	// The database role's default_ttl is shorter than the entropy role's
	// token_ttl, so that the lease (and VALID UNTIL) is what ends the
	// credentials in normal operation and the token's end cuts them short.
	// As the doc writes them (Go's Duration.String would say 2m0s).
	defaultTTL = "2m"
	tokenTTL   = "10m"

	// revokeWait bounds the wait for asynchronous lease revocation.
	revokeWait = 20 * time.Second
)

// dbEnv is a Vault with auth/entropy and the database secrets engine
// configured against a real PostgreSQL, as docs/postgresql.md sets it up.
type dbEnv struct {
	*harness.Server
	pg *harness.Postgres
}

func newDBEnv(t *testing.T) *dbEnv {
	t.Helper()
	harness.Integration(t)
	pg := harness.StartPostgres(t)
	s := harness.StartServer(t)
	s.EnablePlugin(t)
	e := &dbEnv{Server: s, pg: pg}

	vaultPassword := randomHex(t)
	pg.Admin(t, fmt.Sprintf(dbaSetup, vaultPassword))

	// The engine with the vault CLI, as the doc does it: the password on
	// stdin (password=-), never in an argument list.
	if _, err := e.vaultStdin(t, "", "secrets", "enable", "database"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vaultStdin(t, vaultPassword, "write", "database/config/pg",
		"plugin_name=postgresql-database-plugin",
		"connection_url="+pg.ConnectionURL(),
		"username=vault", "password=-",
		"allowed_roles=readonly",
		"password_authentication=scram-sha-256"); err != nil {
		t.Fatal(err)
	}
	// From here only Vault knows the vault role's password.
	if _, err := e.vaultStdin(t, "", "write", "-f", "database/rotate-root/pg"); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Psql("vault", vaultPassword, "SELECT 1"); !isAuthFailure(err) {
		t.Fatalf("the vault role's first password still works after rotate-root: %v", err)
	}

	// The database role, the policy and the entropy roles with the vault
	// CLI as the doc writes them (statements from files: a string
	// parameter is split at commas, files keep the doc's text verbatim).
	dir := t.TempDir()
	create := writeFile(t, dir, "readonly-create.sql", creationSQL)
	revoke := writeFile(t, dir, "readonly-revoke.sql", revocationSQL)
	policy := writeFile(t, dir, "db-readonly.hcl", dbPolicy)
	for _, args := range [][]string{
		{"write", "database/roles/readonly", "db_name=pg",
			"creation_statements=@" + create, "revocation_statements=@" + revoke,
			"default_ttl=" + defaultTTL, "max_ttl=1h"},
		{"policy", "write", "db-readonly", policy},
		{"write", "auth/entropy/role/app", "token_policies=db-readonly", "token_ttl=" + tokenTTL, "token_max_ttl=1h"},
		{"write", "auth/entropy/role/other", "token_policies=default", "token_ttl=" + tokenTTL},
	} {
		if _, err := e.vaultStdin(t, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestDynamicCredentialsDieWithTheToken is the story: a workload
// enrolls, logs in with entropy, reads database/creds/readonly, queries
// PostgreSQL with what it got, and once its token is revoked those
// credentials neither connect nor keep an open session. Once as a shell
// script does it (vault-entropy login, vault read, and the token revokes
// itself with vault token revoke -self), once through the Go library and
// vault/api (root revokes the token by accessor).
func TestDynamicCredentialsDieWithTheToken(t *testing.T) {
	e := newDBEnv(t)
	state := e.Enroll(t, "auth/entropy", "app", "")

	cases := []struct {
		name   string
		login  func(t *testing.T) string
		read   func(t *testing.T, token string) *api.Secret
		revoke func(t *testing.T, token string)
	}{
		{
			name: "cli",
			login: func(t *testing.T) string {
				out, err := e.CLI(t, nil, "", "login", "-state", state)
				if err != nil {
					t.Fatalf("vault-entropy login: %v", err)
				}
				return strings.TrimSpace(out)
			},
			// As a shell script does: vault read -format=json.
			read: func(t *testing.T, token string) *api.Secret {
				out, err := e.Vault(t, []string{"VAULT_TOKEN=" + token}, "read", "-format=json", credsPath)
				if err != nil {
					t.Fatal(err)
				}
				var secret api.Secret
				must(t, json.Unmarshal([]byte(out), &secret))
				return &secret
			},
			revoke: func(t *testing.T, token string) {
				if _, err := e.Vault(t, []string{"VAULT_TOKEN=" + token}, "token", "revoke", "-self"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "library",
			login: func(t *testing.T) string {
				auth, err := client.NewEntropyAuth(client.WithStateFile(state), client.WithMountPath("auth/entropy"))
				must(t, err)
				c := e.TokenClient(t, "")
				secret, err := c.Auth().Login(t.Context(), auth)
				if err != nil {
					t.Fatalf("library login: %v", err)
				}
				return secret.Auth.ClientToken
			},
			read: func(t *testing.T, token string) *api.Secret {
				secret, err := e.TokenClient(t, token).Logical().ReadWithContext(t.Context(), credsPath)
				if err != nil {
					t.Fatalf("reading %s with the entropy token: %v", credsPath, err)
				}
				return secret
			},
			revoke: func(t *testing.T, token string) {
				self, err := e.TokenClient(t, token).Auth().Token().LookupSelfWithContext(t.Context())
				must(t, err)
				accessor, err := self.TokenAccessor()
				must(t, err)
				must(t, e.Client.Auth().Token().RevokeAccessorWithContext(t.Context(), accessor))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.login(t)
			if !strings.HasPrefix(token, "hvs.") {
				t.Fatalf("login gave no service token (%d characters)", len(token))
			}
			secret := tc.read(t, token)
			user, password := e.checkCreds(t, secret)

			// The credentials work, for reading only.
			if out, err := e.pg.Psql(user, password, "SELECT item FROM inventory WHERE id = 1"); err != nil || out != knownRow {
				t.Fatalf("query with the dynamic credentials: %q, %v", out, err)
			}
			if _, err := e.pg.Psql(user, password, "INSERT INTO inventory VALUES (2, 'nope')"); err == nil || !strings.Contains(err.Error(), "permission denied for table inventory") {
				t.Fatalf("an INSERT with read-only credentials: %v", err)
			}
			// The password is checked: a wrong one is refused the way a
			// revoked one must be below.
			if _, err := e.pg.Psql(user, randomHex(t), "SELECT 1"); !isAuthFailure(err) {
				t.Fatalf("a wrong password: %v", err)
			}
			session := e.openSession(t, user, password)

			start := time.Now()
			tc.revoke(t, token)
			if _, err := e.TokenClient(t, token).Auth().Token().LookupSelfWithContext(t.Context()); !isStatus(err, http.StatusForbidden) {
				t.Fatalf("the revoked token still works: %v", err)
			}
			// Vault revokes the token's leases in the background: poll.
			var lastErr error
			for deadline := time.Now().Add(revokeWait); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if _, lastErr = e.pg.Psql(user, password, "SELECT 1"); lastErr != nil {
					break
				}
			}
			if !isAuthFailure(lastErr) {
				t.Fatalf("%s after the token's revocation, the credentials still connect or fail otherwise: %v", revokeWait, lastErr)
			}
			t.Logf("credentials refused %.1fs after the revocation: %v", time.Since(start).Seconds(), lastErr)
			if n := e.pg.Admin(t, fmt.Sprintf("SELECT count(*) FROM pg_roles WHERE rolname = '%s'", user)); n != "0" {
				t.Fatalf("the role is still in pg_roles (%s)", n)
			}
			session.mustBeTerminated(t)
			if _, err := e.Client.Sys().LookupWithContext(t.Context(), secret.LeaseID); err == nil {
				t.Fatal("the lease outlived its token")
			}
		})
	}
}

// TestCredentialsNeedThePolicy: a token that lacks the policy gets 403
// and PostgreSQL gets no new role; the policy allows the credentials and
// nothing else of the engine (its connection, its roles).
func TestCredentialsNeedThePolicy(t *testing.T) {
	e := newDBEnv(t)
	login := func(role string) string {
		auth, err := client.NewEntropyAuth(client.WithStateFile(e.Enroll(t, "auth/entropy", role, "")))
		must(t, err)
		secret, err := e.TokenClient(t, "").Auth().Login(t.Context(), auth)
		must(t, err)
		return secret.Auth.ClientToken
	}
	app, other := login("app"), login("other")
	const countRoles = "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
	before := e.pg.Admin(t, countRoles)

	cases := []struct {
		name, token, path string
	}{
		{"role without the policy", other, credsPath},
		{"another database role", app, "database/creds/admin"},
		{"the connection's configuration", app, "database/config/pg"},
		{"the role's statements", app, "database/roles/readonly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret, err := e.TokenClient(t, tc.token).Logical().ReadWithContext(t.Context(), tc.path)
			if !isStatus(err, http.StatusForbidden) || secret != nil {
				t.Fatalf("read %s: want 403 and no secret, got %v, %v", tc.path, secret != nil, err)
			}
		})
	}
	if after := e.pg.Admin(t, countRoles); after != before {
		t.Fatalf("refused reads created database roles: %s before, %s after", before, after)
	}
	// The same Vault does hand the app token credentials: the 403s above
	// are the policy's, not a broken engine.
	if _, err := e.TokenClient(t, app).Logical().ReadWithContext(t.Context(), credsPath); err != nil {
		t.Fatal(err)
	}
}
