package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// login logs the client of the state file in through the client library.
func login(t *testing.T, s *harness.Server, state string) (*api.Secret, error) {
	t.Helper()
	a, err := client.NewEntropyAuth(client.WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	secret, err := a.Login(ctx, s.Client)
	if err == nil && (secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "") {
		err = errors.New("a login without a token")
	}
	return secret, err
}

// mustLogin fails the test unless the client logs in.
func mustLogin(t *testing.T, s *harness.Server, what, state string) {
	t.Helper()
	if _, err := login(t, s, state); err != nil {
		t.Fatalf("%s: login: %v", what, err)
	}
}

// clientRecord is the operator's view of a client (role/<r>/client/<id>).
type clientRecord struct {
	generation, pending, superseded uint64
	locked                          bool
	lockReason                      string
}

func readClient(t *testing.T, s *harness.Server, role, id string) clientRecord {
	t.Helper()
	secret, err := s.Client.Logical().ReadWithContext(t.Context(), mountPath+"/role/"+role+"/client/"+id)
	if err != nil || secret == nil {
		t.Fatalf("reading client %s/%s: %v", role, id, err)
	}
	num := func(k string) uint64 {
		n, err := secret.Data[k].(interface{ Int64() (int64, error) }).Int64()
		if err != nil {
			t.Fatalf("client %s/%s: %s: %v", role, id, k, err)
		}
		return uint64(n)
	}
	locked, _ := secret.Data["locked"].(bool)
	reason, _ := secret.Data["lock_reason"].(string)
	return clientRecord{num("generation"), num("pending_generation"), num("superseded_generation"), locked, reason}
}

// requestRotation makes the client's next login hand out a new generation.
func requestRotation(t *testing.T, s *harness.Server, role, id string) {
	t.Helper()
	s.Write(t, mountPath+"/role/"+role+"/client/"+id+"/rotate", nil)
}

// wrappedEnrollment enrolls a client and returns the response-wrapping
// token of its bundle, for a CLI's bootstrap.
func wrappedEnrollment(t *testing.T, s *harness.Server, role, id string) string {
	t.Helper()
	c := s.TokenClient(t, s.RootToken)
	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	wrapped, err := c.Logical().WriteWithContext(t.Context(), mountPath+"/role/"+role+"/enroll", map[string]interface{}{"client_id": id})
	if err != nil || wrapped == nil || wrapped.WrapInfo == nil {
		t.Fatalf("enrolling %s/%s: %v", role, id, err)
	}
	return wrapped.WrapInfo.Token
}

// runCLI runs a vault-entropy binary against the server (VAULT_ADDR set,
// no VAULT_TOKEN) with stdin; the error holds its stderr.
func runCLI(t *testing.T, s *harness.Server, cli, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN=")
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.New(strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// cliClient is a client bootstrapped and logged in with one build's CLI.
type cliClient struct {
	role, id, state string
}

// bootstrapCLI enrolls a client and bootstraps its state with cli.
func bootstrapCLI(t *testing.T, s *harness.Server, cli, role, id string) cliClient {
	t.Helper()
	c := cliClient{role: role, id: id, state: filepath.Join(t.TempDir(), id+".json")}
	token := wrappedEnrollment(t, s, role, id)
	if out, err := runCLI(t, s, cli, token, "bootstrap", "-wrap-token=-", "-state="+c.state); err != nil {
		t.Fatalf("%s bootstrap of %s: %v %s", cli, id, err, out)
	}
	return c
}

// cliLogin logs the client in with cli and returns the token it printed.
func cliLogin(t *testing.T, s *harness.Server, cli string, c cliClient) (string, error) {
	t.Helper()
	out, err := runCLI(t, s, cli, "", "login", "-state="+c.state)
	return strings.TrimSpace(out), err
}

// capturedLogin is an accepted login's request body, kept to be sent again.
type capturedLogin struct {
	path string
	body map[string]interface{}
}

// captureLogin makes a proof for the client of the state file, sends it
// once (it must be accepted) and returns it. The receipt is not applied:
// the client's role must not rotate it.
func captureLogin(t *testing.T, s *harness.Server, state string) capturedLogin {
	t.Helper()
	a, err := client.NewEntropyAuth(client.WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	lr, _, err := a.NewLoginRequest(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := capturedLogin{path: lr.Path, body: lr.Data()}
	if secret, err := c.send(t, s); err != nil || secret == nil || secret.Auth == nil {
		t.Fatalf("the login to capture was not accepted: %v", err)
	}
	return c
}

// send posts the body with no token and no retry.
func (c capturedLogin) send(t *testing.T, s *harness.Server) (*api.Secret, error) {
	t.Helper()
	vc := s.TokenClient(t, "")
	vc.SetMaxRetries(0)
	return vc.Logical().WriteWithContext(t.Context(), c.path, c.body)
}

// checkReplayRefused fails unless sending the captured login again gives
// no token, and a refusal: 403 (the nonce was seen) or 400 (the proof
// predates the replay window of a plugin that started since).
func checkReplayRefused(t *testing.T, s *harness.Server, what string, c capturedLogin) {
	t.Helper()
	checkReplayFails(t, s, what, c, 400, 403)
}

// checkReplayFails fails unless sending the captured login again gives no
// token and an error with one of the status codes.
func checkReplayFails(t *testing.T, s *harness.Server, what string, c capturedLogin, codes ...int) {
	t.Helper()
	secret, err := c.send(t, s)
	if err == nil || (secret != nil && secret.Auth != nil) {
		t.Errorf("%s: a replayed login was accepted (err %v)", what, err)
		return
	}
	var re *api.ResponseError
	if !errors.As(err, &re) || !slices.Contains(codes, re.StatusCode) {
		t.Errorf("%s: a replayed login failed with %v, want a status in %v", what, err, codes)
	}
	t.Logf("%s: replay refused: %v", what, err)
}

// tidy runs a tidy and waits for it to end; it returns its status.
func tidy(t *testing.T, s *harness.Server) map[string]interface{} {
	t.Helper()
	s.Write(t, mountPath+"/tidy", nil)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := s.Client.Logical().ReadWithContext(t.Context(), mountPath+"/tidy/status")
		if err != nil {
			t.Fatal(err)
		}
		if state, _ := st.Data["state"].(string); state != "running" && state != "idle" {
			return st.Data
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("tidy did not finish within 30 s")
	return nil
}

// The roles every upgrade test enrolls its clients in.
const (
	loadRole   = "load" // rotates every 2 s: the load rotates across the reload
	steadyRole = "rot"  // rotates only when asked (1 h period)
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// checkGenerations fails unless the client's record names these
// generations (0: none) and is not locked.
func checkGenerations(t *testing.T, s *harness.Server, role, id string, gen, pending, superseded uint64) {
	t.Helper()
	r := readClient(t, s, role, id)
	if r.generation != gen || r.pending != pending || r.superseded != superseded || r.locked {
		t.Errorf("client %s: %+v, want generation %d, pending %d, superseded %d, unlocked", id, r, gen, pending, superseded)
	}
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// proofVersions fails unless the state of every client in ids says the
// server reads proof version want (0: the member is absent).
func proofVersions(t *testing.T, state map[string]string, ids []string, want int) {
	t.Helper()
	for _, id := range ids {
		st, err := client.LoadState(state[id])
		if err != nil {
			t.Fatal(err)
		}
		if st.ProofVersion != want {
			t.Errorf("client %s: its state says proof_version %d, want %d", id, st.ProofVersion, want)
		}
	}
}
