package proc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tail := " 0 0 0 0 0 0 0 0 0 250 150 0 0"
	for _, tc := range []struct {
		name, line string
		want       Stat
		err        error
	}{
		{"plain", "42 (vault) S 7" + tail, Stat{PID: 42, Comm: "vault", State: "S", PPID: 7, CPU: 4 * time.Second}, nil},
		{"spaces and parentheses in the name", "42 (a) b (c)) Z 1" + tail, Stat{PID: 42, Comm: "a) b (c)", State: "Z", PPID: 1, CPU: 4 * time.Second}, nil},
		{"no name", "42 S 7" + tail, Stat{}, ErrMalformed},
		{"too short", "42 (x) S 7 0 0", Stat{}, ErrMalformed},
		{"not a number", "42 (x) S seven" + tail, Stat{}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(42, tc.line)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("parseStat = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestReadStat reads this process and its parent (go test), and a pid
// that cannot run.
func TestReadStat(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.Comm == "" || st.State == "" {
		t.Fatalf("own stat %+v, parent %d", st, os.Getppid())
	}
	pids := []int{}
	for _, c := range Children(os.Getppid()) {
		pids = append(pids, c.PID)
	}
	if !slices.Contains(pids, os.Getpid()) {
		t.Fatalf("children of %d: %v, without this process %d", os.Getppid(), pids, os.Getpid())
	}
	// Above the kernel's pid_max (at most 2^22).
	if _, err := ReadStat(1 << 23); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a pid that cannot exist: %v", err)
	}
}

func TestReadPIDFile(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    int
	}{
		{"123\n", 123},
		{"123", 123},
		{" 42 \n/var/lib/postgresql\n5432\n", 42},
		{"", 0},
		{"x\n", 0},
		{"-1\n", 0},
	} {
		path := filepath.Join(t.TempDir(), "x.pid")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPIDFile(path)
		if got != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("ReadPIDFile(%q) = %d, %v; want %d", tc.content, got, err, tc.want)
		}
	}
}

// TestProgram reads this test binary's own name, whole, and refuses a
// process that does not exist.
func TestProgram(t *testing.T) {
	got, err := Program(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(os.Args[0]); got != want {
		t.Errorf("Program(self) = %q, want %q", got, want)
	}
	if _, err := Program(1 << 30); err == nil {
		t.Error("Program of a pid that does not exist: no error")
	}
}
