package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// logBuffer is a logger's output, safe for concurrent logins.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// count is the number of lines holding s.
func (b *logBuffer) count(s string) int {
	n := 0
	for _, l := range b.lines() {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	b := &logBuffer{}
	return b, slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// readOnlyCopy writes the state of path into a fresh 0400 file in a 0500
// directory, as a deployment package would hold it, and returns its path.
func readOnlyCopy(t *testing.T, path string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "state.json")
	if err := os.WriteFile(ro, mustRead(t, path), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return ro
}

// encoded is the encoded form of the state file at path.
func encoded(t *testing.T, path string) string {
	t.Helper()
	e, err := EncodeState(mustLoad(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readOnlySources makes, for one writable state file, an auth method of
// each read-only source over a copy of it.
func readOnlySources(t *testing.T, path string) map[string]func(t *testing.T, log *slog.Logger) *EntropyAuth {
	enc := encoded(t, path)
	ro := readOnlyCopy(t, path)
	raw := mustRead(t, path)
	mk := func(opt func() Option) func(t *testing.T, log *slog.Logger) *EntropyAuth {
		return func(t *testing.T, log *slog.Logger) *EntropyAuth {
			t.Helper()
			a, err := NewEntropyAuth(opt(), WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			if !a.ReadOnly() {
				t.Fatal("not read-only")
			}
			return a
		}
	}
	return map[string]func(t *testing.T, log *slog.Logger) *EntropyAuth{
		"file": mk(func() Option { return WithReadOnlyStateFile(ro) }),
		"env": mk(func() Option {
			t.Setenv("TEST_ENTROPY_STATE", enc)
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}),
		"env holding JSON": mk(func() Option {
			t.Setenv("TEST_ENTROPY_STATE", string(raw))
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}),
		"reader":              mk(func() Option { return WithStateReader(strings.NewReader(enc+"\n"), "stdin") }),
		"reader holding JSON": mk(func() Option { return WithStateReader(bytes.NewReader(raw), "stdin") }),
	}
}

// login logs in with a and returns the generation the token says it proved.
func loginGeneration(t *testing.T, c *api.Client, a *EntropyAuth) string {
	t.Helper()
	secret, err := c.Auth().Login(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("operator-token")
	return secret.Auth.Metadata["generation"]
}

// A read-only client across a rotation the server hands out: every login
// gets a token and proves generation 1, the one it holds, never the
// pending generation its first receipt carried; the note is logged once;
// nothing is written, and no lock file is made.
func TestReadOnlyLoginKeepsProvingTheCurrentGeneration(t *testing.T) {
	for _, name := range sourceNames {
		t.Run(name, func(t *testing.T) {
			f, path := newRotatingFake(t)
			logs, log := newLogBuffer()
			a := readOnlySources(t, path)[name](t, log)
			before := snapshotDir(t, filepath.Dir(path))
			c := f.client(t)
			for i := range 5 {
				if g := loginGeneration(t, c, a); g != "1" {
					t.Fatalf("login %d proved generation %s", i, g)
				}
			}
			gen, pending, _ := f.serverState()
			if gen != 1 || pending != 2 || f.cloneCount() != 0 {
				t.Fatalf("server at %d pending %d, %d clones", gen, pending, f.cloneCount())
			}
			if n := logs.count("Vault handed out generation 2"); n != 1 {
				t.Fatalf("the rotation note was logged %d times: %q", n, logs.lines())
			}
			if s := mustLoad(t, path); s.Pending != nil {
				t.Fatal("the writable original changed")
			}
			if after := snapshotDir(t, filepath.Dir(path)); after != before {
				t.Fatalf("the original's directory changed: %s -> %s", before, after)
			}
			if a.StatePath() != "" {
				if _, err := os.Lstat(a.StatePath() + lockSuffix); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a lock file was made next to the read-only file: %v", err)
				}
			}
			// A proof made by NewLoginRequest is of generation 1 too.
			if g := requestGeneration(t, f, a); g != 1 {
				t.Fatalf("NewLoginRequest proves generation %d", g)
			}
			f.checkUnauthenticated(t)
		})
	}
}

// requestGeneration is the generation a proof of a.NewLoginRequest proves.
func requestGeneration(t *testing.T, f *fakeVault, a *EntropyAuth) uint64 {
	t.Helper()
	lr, _, err := a.NewLoginRequest(context.Background(), f.client(t))
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.ParseProof(lr.Proof)
	if err != nil {
		t.Fatal(err)
	}
	var claims *protocol.Claims
	f.with(func() { claims, err = env.Open(f.keys[0]) })
	if err != nil {
		t.Fatal(err)
	}
	return claims.Generation()
}

// sourceNames are the keys of readOnlySources.
var sourceNames = []string{"file", "env", "env holding JSON", "reader", "reader holding JSON"}

// snapshotDir describes a directory's entries and their sizes and times.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e.Name() + " " + fi.ModTime().String() + " " + fi.Mode().String() + ";")
	}
	return b.String()
}

// A read-only file is never written: its bytes, mode and time stay, and
// its 0500 directory gets no lock or temporary file.
func TestReadOnlyFileIsNotWritten(t *testing.T) {
	f, path := newRotatingFake(t)
	ro := readOnlyCopy(t, path)
	before, dir := mustRead(t, ro), snapshotDir(t, filepath.Dir(ro))
	_, log := newLogBuffer()
	a, err := NewEntropyAuth(WithReadOnlyStateFile(ro), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	for range 3 {
		loginGeneration(t, c, a)
	}
	if !bytes.Equal(mustRead(t, ro), before) || snapshotDir(t, filepath.Dir(ro)) != dir {
		t.Fatal("the read-only file or its directory changed")
	}
}

// A read-only state that holds a pending generation (copied from a state
// file a writable client had updated) proves its current generation, says
// so once, and leaves the server's pending generation unproven.
func TestReadOnlyStateDoesNotProveAStoredPendingGeneration(t *testing.T) {
	f, path := newRotatingFake(t)
	c := f.client(t)
	if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
		t.Fatal(err)
	}
	c.SetToken("operator-token")
	if s := mustLoad(t, path); s.Pending == nil || s.Pending.Generation != 2 {
		t.Fatalf("state %v", s)
	}
	for _, name := range []string{"file", "reader holding JSON"} {
		t.Run(name, func(t *testing.T) {
			logs, log := newLogBuffer()
			a := readOnlySources(t, path)[name](t, log)
			for range 3 {
				if g := loginGeneration(t, c, a); g != "1" {
					t.Fatalf("proved generation %s", g)
				}
			}
			if gen, pending, _ := f.serverState(); gen != 1 || pending != 2 {
				t.Fatalf("server at %d pending %d", gen, pending)
			}
			if g := requestGeneration(t, f, a); g != 1 {
				t.Fatalf("NewLoginRequest proves generation %d", g)
			}
			if n := logs.count("holds pending generation 2"); n != 1 {
				t.Fatalf("the stored-pending note was logged %d times: %q", n, logs.lines())
			}
		})
	}
	// The encoding leaves the pending generation out altogether.
	s, err := DecodeState([]byte(encoded(t, path)))
	if err != nil || s.Pending != nil || s.Generation != 1 {
		t.Fatalf("decoded %v, %v", s, err)
	}
}

// A read-only client checks the receipt as a writable one does: without a
// valid one, no token.
func TestReadOnlyLoginChecksTheReceipt(t *testing.T) {
	cases := []struct {
		name string
		edit func(body map[string]interface{})
		want error
	}{
		{"no receipt", func(b map[string]interface{}) { delete(b, "data") }, ErrNoReceipt},
		{"garbage receipt", func(b map[string]interface{}) { b["data"] = map[string]interface{}{"receipt": "AAAA"} }, ErrReceipt},
		{"another login's token", func(b map[string]interface{}) {
			b["auth"].(map[string]interface{})["metadata"].(map[string]string)["login_id"] = "other"
		}, ErrReceipt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newRotatingFake(t)
			f.with(func() { f.editBody = tc.edit })
			_, log := newLogBuffer()
			a := readOnlySources(t, path)["env"](t, log)
			c := f.client(t)
			secret, err := c.Auth().Login(context.Background(), a)
			if !errors.Is(err, tc.want) || secret != nil || c.Token() != "operator-token" {
				t.Fatalf("login = %v, %v, token %q", secret, err, c.Token())
			}
		})
	}
}

// New server keys: a read-only client whose key Vault no longer accepts
// fetches the keys and retries at every login (it cannot keep them), says
// so once, and gets its tokens.
func TestReadOnlyLoginAfterAKeyRotation(t *testing.T) {
	f, path := newRotatingFake(t)
	logs, log := newLogBuffer()
	a := readOnlySources(t, path)["env"](t, log)
	f.with(func() { f.rotateKey(); f.retireOldKeys() })
	c := f.client(t)
	for range 3 {
		loginGeneration(t, c, a)
	}
	fetches := 0
	for _, p := range f.paths() {
		if strings.HasSuffix(p, "/keys") {
			fetches++
		}
	}
	if fetches != 3 {
		t.Fatalf("%d key fetches for 3 logins, want 3 (nothing is kept): %v", fetches, f.paths())
	}
	if n := logs.count("public keys changed"); n != 1 {
		t.Fatalf("the keys note was logged %d times: %q", n, logs.lines())
	}
}

// Challenge mode the state does not know: each login is refused once and
// retried in challenge mode; the note comes once.
func TestReadOnlyLoginInChallengeMode(t *testing.T) {
	f, path := newRotatingFake(t)
	logs, log := newLogBuffer()
	a := readOnlySources(t, path)["env"](t, log)
	f.with(func() { f.challengeRequired = true })
	c := f.client(t)
	for range 3 {
		loginGeneration(t, c, a)
	}
	f.with(func() {
		if f.challenged != 3 {
			t.Fatalf("%d logins in challenge mode, want 3", f.challenged)
		}
	})
	if n := logs.count("challenge mode"); n != 1 {
		t.Fatalf("the challenge note was logged %d times: %q", n, logs.lines())
	}
}

// Many copies at once share nothing to lock: 20 concurrent logins of one
// read-only auth method all prove generation 1, and the note comes once.
func TestConcurrentReadOnlyLogins(t *testing.T) {
	f, path := newRotatingFake(t)
	logs, log := newLogBuffer()
	a := readOnlySources(t, path)["env"](t, log)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secret, err := f.client(t).Auth().Login(context.Background(), a)
			if err == nil && secret.Auth.Metadata["generation"] != "1" {
				err = errors.New("proved generation " + secret.Auth.Metadata["generation"])
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.count("Vault handed out"); n != 1 || f.cloneCount() != 0 {
		t.Fatalf("note logged %d times, %d clones", n, f.cloneCount())
	}
}

// Bad sources make NewEntropyAuth fail, with an error that names the
// source and quotes nothing of it.
func TestReadOnlySourcesRefuseBadInput(t *testing.T) {
	_, path := newRotatingFake(t)
	enc := encoded(t, path)
	_, entropyPart, _ := strings.Cut(strings.TrimPrefix(enc, encodedStatePrefix), ".")
	readable := readOnlyCopy(t, path)
	os.Chmod(filepath.Dir(readable), 0o700)
	os.Chmod(readable, 0o440)
	openDir := readOnlyCopy(t, path)
	os.Chmod(filepath.Dir(openDir), 0o777)

	cases := []struct {
		name string
		opt  func(t *testing.T) Option
		want error
	}{
		{"unset variable", func(t *testing.T) Option {
			os.Unsetenv("TEST_ENTROPY_UNSET")
			return WithStateFromEnv("TEST_ENTROPY_UNSET")
		}, ErrNoState},
		{"empty variable", func(t *testing.T) Option {
			t.Setenv("TEST_ENTROPY_STATE", "")
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}, ErrNoState},
		{"blank variable", func(t *testing.T) Option {
			t.Setenv("TEST_ENTROPY_STATE", " \n")
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}, ErrEncodedState},
		{"a path in the variable", func(t *testing.T) Option {
			t.Setenv("TEST_ENTROPY_STATE", path)
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}, ErrEncodedState},
		{"truncated variable", func(t *testing.T) Option {
			t.Setenv("TEST_ENTROPY_STATE", enc[:len(enc)-8])
			return WithStateFromEnv("TEST_ENTROPY_STATE")
		}, ErrEncodedState},
		{"empty reader", func(t *testing.T) Option { return WithStateReader(strings.NewReader(""), "stdin") }, ErrEncodedState},
		{"failing reader", func(t *testing.T) Option { return WithStateReader(failingReader{}, "stdin") }, errRead},
		{"oversized reader", func(t *testing.T) Option {
			return WithStateReader(strings.NewReader(enc+strings.Repeat(" ", maxEncodedState)), "stdin")
		}, ErrEncodedState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewEntropyAuth(tc.opt(t))
			if !errors.Is(err, tc.want) || a != nil {
				t.Fatalf("NewEntropyAuth = %v, %v; want %v", a, err, tc.want)
			}
			if strings.Contains(err.Error(), entropyPart[:16]) {
				t.Fatal("the error quotes the entropy")
			}
		})
	}

	// A read-only file is checked as a state file is, at each login.
	fileCases := []struct {
		name string
		path string
		want error
	}{
		{"readable by others", readable, ErrStateReadable},
		{"in a directory others can write", openDir, ErrStateDirectory},
		{"missing", filepath.Join(t.TempDir(), "none.json"), ErrNoState},
	}
	for _, tc := range fileCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			a, err := NewEntropyAuth(WithReadOnlyStateFile(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			c := f.client(t)
			if secret, err := c.Auth().Login(context.Background(), a); !errors.Is(err, tc.want) || secret != nil {
				t.Fatalf("login = %v, %v; want %v", secret, err, tc.want)
			}
			if n := len(f.paths()); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
}

var errRead = errors.New("read failed")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errRead }

// The last source option given wins: a writable file after a read-only
// source makes the state writable again, and the other way round.
func TestStateSourceOptionsOrder(t *testing.T) {
	_, path := newRotatingFake(t)
	t.Setenv("TEST_ENTROPY_STATE", encoded(t, path))
	a, err := NewEntropyAuth(WithStateFromEnv("TEST_ENTROPY_STATE"), WithStateFile(path))
	if err != nil || a.ReadOnly() || a.StatePath() != path {
		t.Fatalf("%v, read-only %v", err, a.ReadOnly())
	}
	a, err = NewEntropyAuth(WithStateFile(path), WithStateFromEnv("TEST_ENTROPY_STATE"))
	if err != nil || !a.ReadOnly() || a.StatePath() != "" || a.StateSource() != "$TEST_ENTROPY_STATE" {
		t.Fatalf("%v, read-only %v, source %q", err, a.ReadOnly(), a.StateSource())
	}
}
