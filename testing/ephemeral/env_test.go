package ephemeral

// The world the examples run in: a Vault with auth/entropy, a KV v2 secret
// and the database secrets engine on a real PostgreSQL, one role for the
// pipeline's client, and the pipeline's own steps (enrollment, and the
// deploy-time rotation) as docs/ci-and-serverless.md writes them.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

const (
	mount    = "auth/entropy"
	role     = "ci"
	clientID = "pipeline-1"

	// The KV secret both examples read (their defaults), and the field
	// the CI job reads.
	kvMount = "secret"
	kvPath  = "ci/deploy"
	kvField = "api_key"

	// The database engine's role the CI job reads credentials of (its
	// default), and the row its query returns.
	credsPath = "database/creds/ci"
	knownRow  = "entropy-e2e-known-row"

	// The entropy role's token TTL is short, as a job's should be; the
	// database lease is longer, so that a database role gone within
	// seconds of the job's end was revoked with the token, not expired.
	tokenTTL = "2m"
	dbTTL    = "5m"

	// overlap is the role's generation_overlap: long enough for a batch of
	// old copies started just after the first new one to have logged in
	// on a loaded 2-core machine (a batch of 12 took 11 s at load 9, its
	// logins the first second or two of it), short enough to wait out.
	overlap = 10 * time.Second

	// revokeWait bounds the wait for Vault to revoke a token's leases.
	revokeWait = 20 * time.Second
)

// The database side, as docs/postgresql.md sets it up (there for a role
// "readonly"; here for "ci").
const (
	dbaSetup = `CREATE TABLE inventory (id integer PRIMARY KEY, item text NOT NULL);
INSERT INTO inventory VALUES (1, '` + knownRow + `');
CREATE ROLE vault WITH LOGIN CREATEROLE PASSWORD '%s';
GRANT SELECT ON inventory TO vault WITH GRANT OPTION;
GRANT pg_signal_backend TO vault;
`
	creationSQL = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
GRANT SELECT ON inventory TO "{{name}}";
`
	revocationSQL = `REVOKE SELECT ON inventory FROM "{{name}}";
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
DROP ROLE IF EXISTS "{{name}}";
`
	// The job's policy: its secrets and nothing else.
	jobPolicy = `path "secret/data/ci/*" {
  capabilities = ["read"]
}
path "database/creds/ci" {
  capabilities = ["read"]
}
`
)

// env is the running world, and the tools the examples find on PATH.
type env struct {
	*harness.Server
	pg *harness.Postgres
	// tools holds vault, vault-entropy and psql under the names the CI
	// job calls them by; it goes first on the job's PATH.
	tools string
	// kvValue is the secret's value: the examples must never print it.
	kvValue string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	harness.Integration(t)
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("the CI job example needs jq: apt-get install jq")
	}
	pg := harness.StartPostgres(t)
	s := harness.StartServer(t)
	s.EnablePlugin(t)
	e := &env{Server: s, pg: pg, tools: t.TempDir(), kvValue: "api-key-" + randomHex(t)}

	_, cli := harness.Binaries(t)
	for name, target := range map[string]string{
		"vault": harness.VaultBinary(t), "vault-entropy": cli, "psql": filepath.Join(pg.Bin, "psql"),
	} {
		must(t, os.Symlink(target, filepath.Join(e.tools, name)))
	}

	// The KV secret.
	must(t, s.Client.Sys().MountWithContext(t.Context(), kvMount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	s.Write(t, kvMount+"/data/"+kvPath, map[string]interface{}{"data": map[string]interface{}{kvField: e.kvValue}})

	// The database engine. The vault role's first password is replaced by
	// rotate-root at once: from then on only Vault knows it.
	vaultPassword := randomHex(t)
	pg.Admin(t, fmt.Sprintf(dbaSetup, vaultPassword))
	must(t, s.Client.Sys().MountWithContext(t.Context(), "database", &api.MountInput{Type: "database"}))
	s.Write(t, "database/config/pg", map[string]interface{}{
		"plugin_name":             "postgresql-database-plugin",
		"connection_url":          pg.ConnectionURL(),
		"username":                "vault",
		"password":                vaultPassword,
		"allowed_roles":           "ci",
		"password_authentication": "scram-sha-256",
	})
	s.Write(t, "database/rotate-root/pg", nil)
	s.Write(t, "database/roles/ci", map[string]interface{}{
		"db_name":               "pg",
		"creation_statements":   creationSQL,
		"revocation_statements": revocationSQL,
		"default_ttl":           dbTTL,
		"max_ttl":               "1h",
	})

	// The job's policy and the entropy role, with the smallest entropy
	// that keeps the partial-theft bound (docs/ci-and-serverless.md) and a
	// short overlap. clone_action=log, so that each example's old copy is
	// reported as a clone after the overlap (a lock would refuse the second
	// before its proof counts); the test switches to lock at its end.
	must(t, s.Client.Sys().PutPolicyWithContext(t.Context(), "ci-job", jobPolicy))
	s.Write(t, mount+"/role/"+role, map[string]interface{}{
		"token_policies":     "ci-job",
		"token_ttl":          tokenTTL,
		"token_max_ttl":      "5m",
		"entropy_size":       4096,
		"generation_overlap": int(overlap.Seconds()),
		"clone_action":       "log",
	})
	r, err := s.Client.Logical().ReadWithContext(t.Context(), mount+"/role/"+role)
	must(t, err)
	if got := fmt.Sprint(r.Data["generation_overlap"]); got != fmt.Sprint(int(overlap.Seconds())) {
		t.Fatalf("the role's generation_overlap is %s, want %s", got, overlap)
	}
	return e
}

// enroll is the pipeline's enrollment of the client, as
// docs/ci-and-serverless.md writes it, and returns the state as the CI
// secret holds it: `vault write -wrap-ttl ... enroll | vault-entropy
// bootstrap -wrap-token=- -encode`, no file written on the way.
func (e *env) enroll(t *testing.T) string {
	t.Helper()
	token, err := e.Vault(t, nil, "write", "-wrap-ttl=5m", "-field=wrapping_token", "-f", mount+"/role/"+role+"/enroll", "client_id="+clientID)
	if err != nil {
		t.Fatal(err)
	}
	return e.bootstrapEncode(t, token, 1)
}

// rotateAtDeploy is the pipeline's deploy-time rotation,
// docs/examples/rotate-at-deploy.sh, with the operator's token: the
// client's next generation, issued out of band, response-wrapped and
// redeemed by `vault-entropy bootstrap -wrap-token=- -encode`, printed as
// the new CI secret's value. It checks the state is the client's at
// generation gen.
func (e *env) rotateAtDeploy(t *testing.T, gen uint64) string {
	t.Helper()
	stdout, stderr, err := e.runRotateAtDeploy(t)
	if err != nil {
		t.Fatalf("rotate-at-deploy.sh: %v\n%s", err, stderr)
	}
	return e.checkState(t, stdout, gen)
}

// runRotateAtDeploy runs docs/examples/rotate-at-deploy.sh ROLE CLIENT_ID,
// followed by store (`--` and the command that stores the state) if any.
func (e *env) runRotateAtDeploy(t *testing.T, store ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := append([]string{role, clientID}, store...)
	cmd := exec.CommandContext(ctx, filepath.Join(harness.RepoRoot(t), "docs", "examples", "rotate-at-deploy.sh"), args...)
	cmd.Env = append(e.baseEnv(), "VAULT_TOKEN="+e.RootToken, client.StateFileEnv+"="+filepath.Join(t.TempDir(), "state.json"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// bootstrapEncode unwraps a bundle with `vault-entropy bootstrap
// -wrap-token=- -encode` (the token on stdin) and checks that the state is
// the client's at generation gen.
func (e *env) bootstrapEncode(t *testing.T, wrappingToken string, gen uint64) string {
	t.Helper()
	// A default state file that bootstrap -encode must not write.
	stateFile := filepath.Join(t.TempDir(), "state.json")
	out, err := e.CLI(t, []string{client.StateFileEnv + "=" + stateFile}, strings.TrimSpace(wrappingToken), "bootstrap", "-wrap-token=-", "-encode")
	if err != nil {
		t.Fatalf("vault-entropy bootstrap -encode: %v", err)
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Fatalf("bootstrap -encode wrote a state file: %v", err)
	}
	return e.checkState(t, out, gen)
}

// checkState checks that out is one line, an encoded state of the client
// at generation gen, and returns it.
func (e *env) checkState(t *testing.T, out string, gen uint64) string {
	t.Helper()
	encoded := strings.TrimSuffix(out, "\n")
	if strings.ContainsAny(encoded, "\n ") {
		t.Fatalf("the state is not one line: %d lines", strings.Count(out, "\n"))
	}
	s, err := client.DecodeState([]byte(encoded))
	if err != nil {
		t.Fatalf("no encoded state: %v", err)
	}
	if s.Role != role || s.ClientID != clientID || s.Generation != gen {
		t.Fatalf("the state is %s/%s generation %d, want %s/%s generation %d", s.Role, s.ClientID, s.Generation, role, clientID, gen)
	}
	return encoded
}

// bundle writes the state as a function's deployment package holds it: a
// file of mode 0400 in a directory of mode 0500, which the function may
// read and not write.
func bundle(t *testing.T, encoded string) string {
	t.Helper()
	s, err := client.DecodeState([]byte(encoded))
	must(t, err)
	dir := filepath.Join(t.TempDir(), "package")
	must(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "vault-entropy-state.json")
	must(t, s.Save(path))
	must(t, os.Chmod(path, 0o400))
	must(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return path
}

// clientTokens counts the live tokens of the client (by the metadata its
// logins set): the examples revoke theirs, so none should outlive them.
func (e *env) clientTokens(t *testing.T) int {
	t.Helper()
	list, err := e.Client.Logical().ListWithContext(t.Context(), "auth/token/accessors")
	must(t, err)
	if list == nil {
		return 0
	}
	n := 0
	for _, a := range list.Data["keys"].([]interface{}) {
		s, err := e.Client.Auth().Token().LookupAccessorWithContext(t.Context(), a.(string))
		if err != nil {
			continue // revoked between the list and the lookup
		}
		if meta, _ := s.TokenMetadata(); meta["client_id"] == clientID {
			n++
		}
	}
	return n
}

// mustHaveNoDatabaseRoles waits until PostgreSQL holds no role made by the
// engine (Vault's usernames start with "v-"): the leases went with the
// tokens, well before their default_ttl.
func (e *env) mustHaveNoDatabaseRoles(t *testing.T) {
	t.Helper()
	q := "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
	deadline := time.Now().Add(revokeWait)
	for {
		n := e.pg.Admin(t, q)
		if n == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s database roles outlived their tokens by %s", n, revokeWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForSleepingSession waits until a job's database session runs
// pg_sleep.
func (e *env) waitForSleepingSession(t *testing.T) {
	t.Helper()
	q := "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'v-%' AND query LIKE '%pg_sleep%'"
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if e.pg.Admin(t, q) == "1" {
			return
		}
	}
	t.Fatal("the job's database session did not show in pg_stat_activity")
}

// clientRecord reads the client as the operator endpoint shows it.
func (e *env) clientRecord(t *testing.T) map[string]interface{} {
	t.Helper()
	s, err := e.Client.Logical().ReadWithContext(t.Context(), mount+"/role/"+role+"/client/"+clientID)
	must(t, err)
	if s == nil {
		t.Fatalf("client %s does not exist", clientID)
	}
	return s.Data
}

// cloneLines are the server log's clone reports about the client.
func (e *env) cloneLines(t *testing.T) []string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(e.Log(t), "\n") {
		if strings.Contains(line, "clone detected") && strings.Contains(line, "client_id="+clientID) {
			out = append(out, line)
		}
	}
	return out
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
