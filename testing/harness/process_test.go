package harness

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// TestReadEnvFile: the files the scripts write (printf 'export %s=%q')
// read back as the values, quotes dropped; other lines are skipped, a
// later name wins, and a missing file is an error, not an empty map.
func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, text string
		want       map[string]string
	}{
		{"script output", "export VAULT_ADDR=http://127.0.0.1:8200\nexport VAULT_TOKEN=hvs.abc\n",
			map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": "hvs.abc"}},
		{"quoted and bare", "export A='x y'\nB=\"z\"\n", map[string]string{"A": "x y", "B": "z"}},
		{"value holds =", "export PGPASSWORD=a=b\n", map[string]string{"PGPASSWORD": "a=b"}},
		{"other lines skipped", "# comment\n\nexport\nexport C=1", map[string]string{"C": "1"}},
		{"later wins", "export D=1\nexport D=2\n", map[string]string{"D": "2"}},
		{"empty", "", map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "env")
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readEnvFile(p)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if got, err := readEnvFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatalf("a missing file: %v, no error", got)
	}
}

// TestStaleDirs: only directories of pids that are gone are stale; this
// process's, a live process's and names that carry no pid are kept.
func TestStaleDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	const prefix = "entropy-staletest-"
	mk := func(name string) string {
		d := filepath.Join(tmp, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A pid above the kernel's pid_max (at most 2^22) never runs.
	gone := mk(prefix + "99999999-x")
	mk(prefix + strconv.Itoa(os.Getppid()) + "-x") // runs: go test
	mk(prefix + strconv.Itoa(os.Getpid()) + "-x")
	mk(prefix + "notapid-x")
	mk(prefix + "0-x")
	if got := staleDirs(prefix); !reflect.DeepEqual(got, []string{gone}) {
		t.Fatalf("staleDirs: %v, want [%s]", got, gone)
	}
}
