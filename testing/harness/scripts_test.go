package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The scripts the docs quote read files back from their DIR (minio-server.sh
// sources DIR/root.env): a DIR or file that another local user planted or
// can change is refused before anything in it runs. The tests run as root,
// which can give files to nobody (uid 65534).
func TestScriptsRefuseFilesTheyDidNotWrite(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown")
	}
	const nobody = 65534
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, env string)
		want  string
	}{
		{"root.env of another user", func(t *testing.T, dir, env string) {
			must(t, os.Chown(env, nobody, nobody))
		}, "belongs to uid 65534"},
		{"root.env writable by group", func(t *testing.T, dir, env string) {
			must(t, os.Chmod(env, 0o620))
		}, "writable by group or others"},
		{"root.env a symbolic link", func(t *testing.T, dir, env string) {
			other := filepath.Join(t.TempDir(), "elsewhere.env")
			must(t, os.Rename(env, other))
			must(t, os.Symlink(other, env))
		}, "not a regular file"},
		{"DIR of another user", func(t *testing.T, dir, env string) {
			must(t, os.Chown(dir, nobody, nobody))
		}, "belongs to uid 65534"},
		{"DIR writable by others", func(t *testing.T, dir, env string) {
			must(t, os.Chmod(dir, 0o1777))
		}, "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "minio")
			must(t, os.Mkdir(dir, 0o700))
			marker := filepath.Join(t.TempDir(), "ran")
			env := filepath.Join(dir, "root.env")
			// What a planted root.env would run when sourced.
			must(t, os.WriteFile(env, []byte("touch "+marker+"\nexport MINIO_ADDR=http://127.0.0.1:1\nexport MINIO_ROOT_USER=u\nexport MINIO_ROOT_PASSWORD=p\n"), 0o600))
			tc.setup(t, dir, env)
			_, err := runScript([]string{"MINIO_BIN=/bin/false"}, "minio-server.sh", "start", dir, "1")
			if err == nil || !strings.Contains(err.Error(), "refusing") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("minio-server.sh start: %v; want a refusal saying %q", err, tc.want)
			}
			if _, err := os.Lstat(marker); err == nil {
				t.Fatal("the planted root.env was sourced")
			}
		})
	}
	// A new DIR is created private.
	dir := filepath.Join(t.TempDir(), "new", "minio")
	runScript([]string{"MINIO_BIN=/bin/false"}, "minio-server.sh", "start", dir, "x")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("DIR created as %v, %v; want mode 0700", fi, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
