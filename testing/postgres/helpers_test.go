package postgres

// Helpers of the PostgreSQL tests (postgres_test.go): the vault CLI with
// stdin, the credentials and the database sessions they open.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

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
