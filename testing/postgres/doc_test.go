package postgres

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// docPassword stands in docs/postgresql.md for the vault role's first
// password (the test uses a random one).
const docPassword = "INITIAL-PASSWORD"

// TestDocShowsWhatIsTested keeps docs/postgresql.md and this package the
// same where a reader copies text: the DBA's SQL, the statement files, the
// policy and the parameters the end-to-end test sets.
func TestDocShowsWhatIsTested(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "docs", "postgresql.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, text := range map[string]string{
		"the DBA's setup":              fmt.Sprintf(dbaSetup, docPassword),
		"readonly-create.sql":          creationSQL,
		"readonly-revoke.sql":          revocationSQL,
		"the policy":                   dbPolicy,
		"the plugin":                   "plugin_name=postgresql-database-plugin",
		"the password hashing":         "password_authentication=scram-sha-256",
		"the root rotation":            "vault write -f database/rotate-root/pg",
		"the database role's TTL":      "default_ttl=" + defaultTTL,
		"the entropy role's token TTL": "token_ttl=" + tokenTTL,
		"the credentials path":         "vault read database/creds/readonly",
		"the CLI login":                "vault-entropy login",
		"the Agent template's secret":  `with secret "database/creds/readonly"`,
	} {
		if !strings.Contains(doc, text) {
			t.Errorf("docs/postgresql.md lacks %s, as the test runs it:\n%s", name, text)
		}
	}
}
