package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// vaultStdin runs the vault CLI as root against the server with stdin;
// the error holds its stderr (which never echoes stdin).
func (e *dbEnv) vaultStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.VaultBinary(t), args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+e.Addr, "VAULT_TOKEN="+e.RootToken)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vault %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// safeName is what Vault's default username template can produce; a
// name is checked against it before it goes into the admin's SQL.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,63}$`)

// checkCreds checks the lease and the role PostgreSQL got, and returns
// the username and password.
func (e *dbEnv) checkCreds(t *testing.T, secret *api.Secret) (user, password string) {
	t.Helper()
	if secret == nil || secret.Data == nil {
		t.Fatal("no credentials in the response")
	}
	user, _ = secret.Data["username"].(string)
	password, _ = secret.Data["password"].(string)
	if !safeName.MatchString(user) || len(password) < 20 {
		t.Fatalf("credentials: username %q, a password of %d characters", user, len(password))
	}
	if secret.LeaseID == "" || !strings.HasPrefix(secret.LeaseID, credsPath+"/") {
		t.Fatalf("lease id %q", secret.LeaseID)
	}
	ttl, err := time.ParseDuration(defaultTTL)
	must(t, err)
	if got := time.Duration(secret.LeaseDuration) * time.Second; got != ttl {
		t.Fatalf("lease duration %s, want the database role's default_ttl %s", got, ttl)
	}
	// VALID UNTIL is the lease's end: about default_ttl from now.
	q := fmt.Sprintf("SELECT rolvaliduntil > now() + interval '%d seconds' AND rolvaliduntil <= now() + interval '%d seconds' FROM pg_roles WHERE rolname = '%s'",
		int(ttl.Seconds())-30, int(ttl.Seconds())+5, user)
	if got := e.pg.Admin(t, q); got != "t" {
		t.Fatalf("role %s: VALID UNTIL is not the lease's end (%q)", user, got)
	}
	return user, password
}

// session is a psql connection kept open with a long query.
type session struct {
	done   chan struct{}
	err    error
	stderr *strings.Builder
}

// openSession connects as user and runs pg_sleep, and returns once the
// server shows the session running: a revocation must end it.
func (e *dbEnv) openSession(t *testing.T, user, password string) *session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := e.pg.Command(ctx, user, password, "-c", "SELECT pg_sleep(60)")
	s := &session{done: make(chan struct{}), stderr: &strings.Builder{}}
	cmd.Stderr = s.stderr
	must(t, cmd.Start())
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	// Whatever happens, the psql process does not outlive the test.
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	q := fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' AND query LIKE '%%pg_sleep%%'", user)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if e.pg.Admin(t, q) == "1" {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("the session ended before it started: %v: %s", s.err, s.stderr)
		default:
		}
	}
	t.Fatal("the session did not show in pg_stat_activity")
	return nil
}

// mustBeTerminated: the revocation statements ended the open session.
func (s *session) mustBeTerminated(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(revokeWait):
		t.Fatal("an open session outlived the revocation of its credentials")
	}
	if s.err == nil || !strings.Contains(s.stderr.String(), "terminating connection due to administrator command") {
		t.Fatalf("the session ended with %v: %s", s.err, s.stderr)
	}
}

// isAuthFailure: psql was refused at authentication. PostgreSQL answers
// "password authentication failed" for a wrong password and for a role
// that no longer exists alike (its log tells them apart).
func isAuthFailure(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "password authentication failed") ||
		strings.Contains(err.Error(), "does not exist"))
}

func isStatus(err error, status int) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
