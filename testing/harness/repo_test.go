package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindRepoRoot: from testing/harness, the root is the directory of the
// plugin's go.mod, not testing/ (whose go.mod is nearer).
func TestFindRepoRoot(t *testing.T) {
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "vault-server.sh")); err != nil {
		t.Fatalf("root %s has no scripts/vault-server.sh: %v", root, err)
	}
	if !declaresModule(filepath.Join(root, "testing", "go.mod"), rootModule+"/testing") {
		t.Fatalf("root %s: testing/go.mod does not declare %s/testing", root, rootModule)
	}
}

func TestDeclaresModule(t *testing.T) {
	for _, tc := range []struct {
		name, gomod string
		want        bool
	}{
		{"plain", "module " + rootModule + "\n\ngo 1.26\n", true},
		{"quoted, comment", "// header\nmodule \"" + rootModule + "\" // the plugin\n", true},
		{"the testing module", "module " + rootModule + "/testing\n", false},
		{"no module line", "go 1.26\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "go.mod")
			if err := os.WriteFile(path, []byte(tc.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := declaresModule(path, rootModule); got != tc.want {
				t.Fatalf("declaresModule = %v, want %v", got, tc.want)
			}
		})
	}
	if declaresModule(filepath.Join(t.TempDir(), "missing"), rootModule) {
		t.Fatal("a missing go.mod declares the module")
	}
}
