package ephemeral

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// TestDocShowsWhatIsTested keeps the Examples section of
// docs/ci-and-serverless.md and this package the same where a reader
// copies text or trusts a claim: the links, the role, the policy, the
// number of copies and the overlap.
func TestDocShowsWhatIsTested(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "docs", "ci-and-serverless.md"))
	must(t, err)
	doc := string(b)
	_, section, ok := strings.Cut(doc, "\n## Examples\n")
	if !ok {
		t.Fatal("docs/ci-and-serverless.md has no Examples section")
	}
	// The policy as the doc indents it, inside a list item.
	var policy strings.Builder
	for line := range strings.SplitSeq(strings.TrimSuffix(jobPolicy, "\n"), "\n") {
		policy.WriteString("  " + line + "\n")
	}
	for name, text := range map[string]string{
		"the CI job's link":        "(examples/ci-job.sh)",
		"the function's link":      "(examples/serverless/main.go)",
		"the rotation step's link": "(examples/rotate-at-deploy.sh)",
		"the test's name":          "TestExamplesAcrossDeployRotation",
		"the role's policy":        "token_policies=ci-job",
		"the policy":               policy.String(),
		"the credentials path":     "`" + credsPath + "`",
		"the number of copies":     []string{"", "one", "two", "three", "four"}[copies] + " copies each",
		"the test's overlap":       fmt.Sprintf("%d-second `generation_overlap`", int(overlap.Seconds())),
		"the CI job's login":       "vault-entropy login -format=json -state-env=VAULT_ENTROPY_STATE",
		"the function's file mode": "a 0400 file in a 0500 directory",
	} {
		if !strings.Contains(section, text) {
			t.Errorf("the Examples section of docs/ci-and-serverless.md lacks %s, as the test runs it:\n%s", name, text)
		}
	}
	for _, path := range []string{"docs/examples/ci-job.sh", "docs/examples/serverless/main.go", "docs/examples/rotate-at-deploy.sh"} {
		if _, err := os.Stat(filepath.Join(harness.RepoRoot(t), path)); err != nil {
			t.Errorf("the doc links %s: %v", path, err)
		}
	}
}
