package adversarial

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

const mount = "entropy"

// env is one real Vault with the plugin mounted at auth/entropy, two roles
// and their clients.
type env struct {
	*harness.Server
	http  *http.Client
	state map[string]string // "role/client_id" -> state file
	// pluginPID is the plugin process after the first login: a panic in
	// the plugin would end it and Vault would start another.
	pluginPID int
	// ready is when the server had been set up: its replay window opened
	// before ready + windowDelay (proofs issued before are refused with
	// "make a new proof", docs/protocol.md §8.3).
	ready time.Time
}

// windowDelay bounds how long after a start the server refuses proofs as
// predating its replay window: the 5 s future bound of the time check.
const windowDelay = 6 * time.Second

// skew is the allowed_clock_skew the suite configures: short, so that the
// boundary controls need not wait a minute after the start.
const skew = 10 * time.Second

// Roles: web and db hold the clients under attack; lockout is on (the
// default threshold, 5) so that counted refusals are visible, and tokens
// are batch tokens so that logins write nothing to the token store.
var roles = map[string]map[string]interface{}{
	"web":       {"token_type": "batch", "token_ttl": "5m"},
	"db":        {"token_type": "batch", "token_ttl": "5m"},
	"clone":     {"token_type": "batch", "token_ttl": "5m", "clone_action": "lock"},
	"clonelog":  {"token_type": "batch", "token_ttl": "5m", "clone_action": "log"},
	"load":      {"token_type": "batch", "token_ttl": "5m"},
	"nolockout": {"token_type": "batch", "token_ttl": "5m", "lockout_threshold": 0},
	// renew: service tokens, which renew (lockout_test.go).
	"renew": {"token_ttl": "5m", "token_max_ttl": "1h"},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	harness.Integration(t)
	s := harness.StartRawServer(t)
	s.EnablePlugin(t, mount)
	e := &env{Server: s, http: &http.Client{Timeout: time.Minute}, state: map[string]string{}}
	// The lockout test counts accepted logins from their log lines.
	s.Write(t, "auth/"+mount+"/config", map[string]interface{}{"allowed_clock_skew": int(skew.Seconds()), "log_accepted_logins": true})
	for name, data := range roles {
		s.Write(t, "auth/"+mount+"/role/"+name, data)
	}
	for _, rc := range []string{"web/alice", "web/bob", "web/erin", "web/frank", "db/carol", "clone/twin", "clone/withheld", "clonelog/twin", "nolockout/erin", "renew/victim"} {
		role, id, _ := strings.Cut(rc, "/")
		e.state[rc] = s.Enroll(t, "auth/"+mount, role, id)
	}
	e.honestLogin(t, "web/alice")
	e.pluginPID = pluginPID(t, s)
	e.ready = time.Now()
	return e
}

// response is what a login answered.
type response struct {
	status int
	errors []string
	token  string
	raw    string
}

// post sends body to auth/entropy/login without a token.
func (e *env) post(t testing.TB, body []byte) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.Addr+"/v1/auth/"+mount+"/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("reading the login response: %v", err)
	}
	var parsed struct {
		Errors []string `json:"errors"`
		Auth   *struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(raw, &parsed) // a 413 from Go's HTTP server is not JSON
	r := response{status: resp.StatusCode, errors: parsed.Errors, raw: string(raw)}
	if parsed.Auth != nil {
		r.token = parsed.Auth.ClientToken
	}
	return r
}

// login sends the three fields of a login.
func (e *env) login(t testing.TB, role, clientID, proof string) response {
	t.Helper()
	body, err := json.Marshal(map[string]string{"role": role, "client_id": clientID, "proof": proof})
	if err != nil {
		t.Fatal(err)
	}
	return e.post(t, body)
}

// honestLogin logs the client in through the library (which keeps its
// state file up to date) and fails the test if it does not get a token.
func (e *env) honestLogin(t testing.TB, rc string) {
	t.Helper()
	if err := e.tryHonestLogin(t, rc); err != nil {
		t.Fatalf("honest login of %s: %v", rc, err)
	}
}

func (e *env) tryHonestLogin(t testing.TB, rc string) error {
	t.Helper()
	auth, err := client.NewEntropyAuth(client.WithStateFile(e.state[rc]), client.WithMountPath("auth/"+mount))
	if err != nil {
		return err
	}
	c, err := e.Client.Clone()
	if err != nil {
		return err
	}
	c.ClearToken()
	secret, err := c.Auth().Login(t.Context(), auth)
	if err != nil {
		return err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return fmt.Errorf("no token")
	}
	return nil
}

// record reads a client's record as an operator sees it.
func (e *env) record(t testing.TB, rc string) map[string]interface{} {
	t.Helper()
	role, id, _ := strings.Cut(rc, "/")
	s, err := e.Client.Logical().ReadWithContext(t.Context(), "auth/"+mount+"/role/"+role+"/client/"+id)
	if err != nil || s == nil {
		t.Fatalf("reading client %s: %v", rc, err)
	}
	return s.Data
}

// failures is the client's failed_logins and whether it is locked.
func (e *env) failures(t testing.TB, rc string) (int64, bool) {
	t.Helper()
	d := e.record(t, rc)
	n, err := d["failed_logins"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("failed_logins of %s: %v", rc, err)
	}
	locked, _ := d["locked"].(bool)
	return n, locked
}

// state loads a client's state file.
func (e *env) loadState(t testing.TB, rc string) *client.State {
	t.Helper()
	st, err := client.LoadState(e.state[rc])
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// alive asserts what must hold after every attack: Vault answers, the
// plugin process is the one it was, and the log shows no panic.
func (e *env) alive(t testing.TB) {
	t.Helper()
	if _, err := e.Client.Sys().HealthWithContext(t.Context()); err != nil {
		t.Fatalf("Vault does not answer: %v", err)
	}
	if pid := pluginPID(t, e.Server); pid != e.pluginPID {
		t.Fatalf("the plugin process changed from %d to %d: it died and was restarted", e.pluginPID, pid)
	}
	if log := strings.ToLower(e.Log(t)); strings.Contains(log, "panic") {
		t.Fatal("the server log mentions a panic")
	}
}

// unlock lifts a lock (a clone's) as an operator does.
func (e *env) unlock(t testing.TB, rc string) {
	t.Helper()
	role, id, _ := strings.Cut(rc, "/")
	e.Write(t, "auth/"+mount+"/role/"+role+"/client/"+id+"/unlock", map[string]interface{}{})
}
