package integration

// Helpers of the lifecycle tests (lifecycle_test.go): role and client
// reads, the state file against the server's record, CLI runs killed
// mid-login, the server log, keys and tidy.

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// loginUntil retries a library login until it succeeds or the deadline
// passes (the server may still be coming up); nil if it never did.
func (e *env) loginUntil(t *testing.T, state string, within time.Duration) *api.Secret {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		auth, err := client.NewEntropyAuth(client.WithStateFile(state))
		must(t, err)
		c, err := e.Client.Clone()
		must(t, err)
		s, err := c.Auth().Login(t.Context(), auth)
		if err == nil {
			return s
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("last login error: %v", last)
	return nil
}

// revokeClientTokens is the operator procedure of docs/operator.md: list
// every token accessor, look each up, and revoke those whose metadata names
// the client. It returns how many it revoked.
func (e *env) revokeClientTokens(t *testing.T, role, id string) int {
	t.Helper()
	list, err := e.Client.Logical().ListWithContext(t.Context(), "auth/token/accessors")
	must(t, err)
	keys, _ := list.Data["keys"].([]interface{})
	n := 0
	for _, k := range keys {
		acc, _ := k.(string)
		info, err := e.Client.Auth().Token().LookupAccessorWithContext(t.Context(), acc)
		must(t, err)
		meta, _ := info.Data["meta"].(map[string]interface{})
		if meta["role"] != role || meta["client_id"] != id {
			continue
		}
		must(t, e.Client.Auth().Token().RevokeAccessorWithContext(t.Context(), acc))
		n++
	}
	return n
}

// noRetry makes c send each request once: a refused renewal is a 403, which
// the client does not retry, but a fault (a 500) it would retry for seconds.
func noRetry(c *api.Client) *api.Client {
	c.SetMaxRetries(0)
	return c
}

// lifecycleRole writes role name with the web-read policy and fields, and
// fails if the backend does not know one of the fields: a field it ignores
// comes back as an "unrecognized parameters" warning, or is missing when the
// role is read back.
func (e *env) lifecycleRole(t *testing.T, name string, fields map[string]interface{}) {
	t.Helper()
	path := entropyMount + "/role/" + name
	data := map[string]interface{}{"token_policies": "web-read"}
	maps.Copy(data, fields)
	mustNotIgnore(t, e.write(t, path, data), path)
	r, err := e.Client.Logical().ReadWithContext(t.Context(), path)
	must(t, err)
	for k := range fields {
		if _, ok := r.Data[k]; !ok {
			t.Fatalf("role %s does not return %s: the backend does not support it", name, k)
		}
	}
}

func mustNotIgnore(t *testing.T, s *api.Secret, path string) {
	t.Helper()
	if s == nil {
		return
	}
	for _, w := range s.Warnings {
		if strings.Contains(w, "unrecognized parameters") {
			t.Fatalf("%s: %s", path, w)
		}
	}
}

// clientRecord is the lifecycle part of a client read.
type clientRecord struct {
	Generation, Pending, Superseded uint64
	FailedLogins, LockedSources     uint64
	Locked                          bool
	LockReason                      string
}

// clientRecord reads role/<role>/client/<id>; the client must exist and the
// read must have the lifecycle fields.
func (e *env) clientRecord(t *testing.T, role, id string) *clientRecord {
	t.Helper()
	s, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/role/"+role+"/client/"+id)
	must(t, err)
	if s == nil {
		t.Fatalf("client %s of role %s does not exist", id, role)
	}
	r := &clientRecord{}
	for k, dst := range map[string]*uint64{
		"generation": &r.Generation, "pending_generation": &r.Pending,
		"superseded_generation": &r.Superseded, "failed_logins": &r.FailedLogins,
		"locked_sources": &r.LockedSources,
	} {
		v, ok := asUint(s.Data[k])
		if !ok {
			t.Fatalf("client read: %s is %v (%T), want a number", k, s.Data[k], s.Data[k])
		}
		*dst = v
	}
	locked, ok := s.Data["locked"].(bool)
	if !ok {
		t.Fatalf("client read: locked is %v", s.Data["locked"])
	}
	r.Locked = locked
	r.LockReason, _ = s.Data["lock_reason"].(string)
	return r
}

func asUint(v interface{}) (uint64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseUint(x.String(), 10, 64)
		return n, err == nil
	case float64:
		return uint64(x), x >= 0 && x == float64(uint64(x))
	}
	return 0, false
}

// agree loads the state and reads the client, and fails unless they name
// the same current generation and the same pending one (none on both sides,
// or the same). It holds after every completed login.
func (e *env) agree(t *testing.T, statePath, role, id string) (*client.State, *clientRecord) {
	t.Helper()
	st, err := client.LoadState(statePath)
	must(t, err)
	rec := e.clientRecord(t, role, id)
	var pending uint64
	if st.Pending != nil {
		pending = st.Pending.Generation
	}
	if st.Generation != rec.Generation || pending != rec.Pending {
		t.Fatalf("state at generation %d pending %d, server at generation %d pending %d", st.Generation, pending, rec.Generation, rec.Pending)
	}
	return st, rec
}

func (e *env) mustNotBeLocked(t *testing.T, role, id string) {
	t.Helper()
	if rec := e.clientRecord(t, role, id); rec.Locked || rec.FailedLogins != 0 || rec.LockedSources != 0 {
		t.Fatalf("client %s: locked=%v (%s), failed_logins=%d, locked_sources=%d", id, rec.Locked, rec.LockReason, rec.FailedLogins, rec.LockedSources)
	}
}

func (e *env) clientIDs(t *testing.T, role string) []string {
	t.Helper()
	s, err := e.Client.Logical().ListWithContext(t.Context(), entropyMount+"/role/"+role+"/client")
	must(t, err)
	var ids []string
	if s != nil {
		for _, k := range s.Data["keys"].([]interface{}) {
			ids = append(ids, k.(string))
		}
	}
	sort.Strings(ids)
	return ids
}

// copyState writes a copy of a state file, as someone who copied it would
// have it.
func copyState(t *testing.T, path string) string {
	t.Helper()
	s, err := client.LoadState(path)
	must(t, err)
	dst := filepath.Join(t.TempDir(), "copy.json")
	must(t, s.Save(dst))
	return dst
}

// cliLoginKilledAfter runs `vault-entropy login` and SIGKILLs it after
// delay unless it has finished by then. It reports whether the signal ended
// it; a run that finished must have succeeded.
func (e *env) cliLoginKilledAfter(t *testing.T, state string, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(e.cli, "login", "-state="+state)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+e.Addr, "VAULT_TOKEN=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = <-done
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return true
	}
	if err != nil {
		t.Fatalf("vault-entropy login (not killed) failed: %v: %s", err, stderr.String())
	}
	return false
}

// logLines returns the server log's lines that contain every one of parts.
func (e *env) logLines(t *testing.T, parts ...string) []string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(e.Log(t), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// hasLogField reports whether an hclog line has key=value as a whole field.
func hasLogField(line, key, value string) bool {
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(key+"="+value) + `(\s|$)`).MatchString(line)
}

// assertNoSecret fails if text holds secret (its first 30 bytes) raw, in
// base64, base64url or hex: the encodings a careless log line would use.
func assertNoSecret(t *testing.T, text, where, what string, secret []byte) {
	t.Helper()
	if len(secret) < 30 {
		t.Fatalf("%s is only %d bytes", what, len(secret))
	}
	b := secret[:30]
	for enc, s := range map[string]string{
		"raw":       string(b),
		"base64":    base64.StdEncoding.EncodeToString(b),
		"base64url": base64.RawURLEncoding.EncodeToString(b),
		"hex":       hex.EncodeToString(b),
	} {
		if strings.Contains(text, s) {
			t.Fatalf("%s contains %s (%s)", where, what, enc)
		}
	}
}

// rawLoginError sends a login that must be refused and returns Vault's
// error response.
func (e *env) rawLoginError(t *testing.T, path string, data map[string]interface{}) *api.ResponseError {
	t.Helper()
	c := e.TokenClient(t, "")
	_, err := c.Logical().WriteWithContext(t.Context(), path, data)
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("login to %s was not refused: %v", path, err)
	}
	return re
}

func (e *env) keys(t *testing.T) []map[string]interface{} {
	t.Helper()
	s, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/keys")
	must(t, err)
	var out []map[string]interface{}
	for _, k := range s.Data["keys"].([]interface{}) {
		out = append(out, k.(map[string]interface{}))
	}
	return out
}

func (e *env) currentKeyID(t *testing.T) string {
	t.Helper()
	s, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/keys")
	must(t, err)
	id, _ := s.Data["current_key_id"].(string)
	if id == "" {
		t.Fatalf("keys: no current_key_id: %v", s.Data)
	}
	return id
}

// stateCurrentKey is the key a state's next proof is sealed to.
func stateCurrentKey(t *testing.T, path string) string {
	t.Helper()
	s, err := client.LoadState(path)
	must(t, err)
	for _, k := range s.ServerKeys {
		if k.Current {
			return k.KeyID
		}
	}
	return s.ServerKeys[0].KeyID
}

// tidy starts a tidy and waits for it to finish; it returns its status.
func (e *env) tidy(t *testing.T) map[string]interface{} {
	t.Helper()
	// tidy/status gives times in seconds: a run that started in this
	// second or later is this one.
	start := time.Now().Truncate(time.Second)
	e.write(t, entropyMount+"/tidy", nil)
	lastTrigger := time.Now()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/tidy/status")
		must(t, err)
		if s == nil {
			t.Fatal("tidy/status is empty")
		}
		state, _ := s.Data["state"].(string)
		finished, _ := s.Data["finished_at"].(string)
		started, _ := s.Data["started_at"].(string)
		if state != "running" && finished != "" {
			at, err := time.Parse(time.RFC3339, started)
			if err == nil && !at.Before(start) {
				return s.Data
			}
			// An older run (a periodic one): ours was refused as
			// overlapping, or has not started yet.
			if time.Since(lastTrigger) > 2*time.Second {
				e.write(t, entropyMount+"/tidy", nil)
				lastTrigger = time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tidy did not finish within a minute: %v", s.Data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quiesce lets background work settle before a storage snapshot: a tidy run
// to its end, so that a first periodic tidy has nothing left to write.
func (e *env) quiesce(t *testing.T) {
	t.Helper()
	if _, err := e.Client.Logical().WriteWithContext(t.Context(), entropyMount+"/tidy", nil); err != nil {
		t.Logf("no tidy to settle background work (%v); comparing storage anyway", err)
		return
	}
	e.tidy(t)
}
