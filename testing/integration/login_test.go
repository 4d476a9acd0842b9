package integration

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// TestOperatorAndWorkloadFlow is the main story on a real Vault:
// register, role, wrapped enrollment, bootstrap through the CLI, login
// through the CLI and through `vault write`, and a token that reads what
// the role's policy allows and nothing else.
func TestOperatorAndWorkloadFlow(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read", "token_ttl": "10m"})

	// The operator enrolls through the vault CLI, response-wrapped.
	token, err := e.Vault(t, nil, "write", "-wrap-ttl=5m", "-field=wrapping_token", "-f", "auth/entropy/role/web/enroll", "client_id=build-7")
	if err != nil {
		t.Fatalf("wrapped enroll: %v", err)
	}
	token = strings.TrimSpace(token)

	// The workload bootstraps with the token on stdin.
	state := filepath.Join(t.TempDir(), "ws", "state.json")
	if out, err := e.runCLI(t, token, "bootstrap", "-wrap-token=-", "-state="+state); err != nil {
		t.Fatalf("bootstrap: %v %s", err, out)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	// The wrapping token was single-use.
	if _, err := e.runCLI(t, token, "bootstrap", "-wrap-token=-", "-state="+state+".2"); err == nil {
		t.Fatal("a wrapping token was unwrapped twice")
	}

	checkToken := func(t *testing.T, tok string) {
		t.Helper()
		c := e.TokenClient(t, tok)
		self, err := c.Auth().Token().LookupSelfWithContext(t.Context())
		must(t, err)
		policies, _ := self.TokenPolicies()
		if !slices.Contains(policies, "web-read") {
			t.Fatalf("token policies %v lack web-read", policies)
		}
		meta, _ := self.TokenMetadata()
		if meta["role"] != "web" || meta["client_id"] != "build-7" || meta["generation"] != "1" {
			t.Fatalf("token metadata %v", meta)
		}
		sec, err := c.Logical().ReadWithContext(t.Context(), allowedSecret)
		if err != nil || sec == nil || sec.Data["data"].(map[string]interface{})["password"] != "allowed" {
			t.Fatalf("reading the allowed secret: %v %v", sec, err)
		}
		if _, err := c.Logical().ReadWithContext(t.Context(), forbiddenSecret); !isForbidden(err) {
			t.Fatalf("reading the forbidden secret: %v", err)
		}
	}

	t.Run("login through the CLI", func(t *testing.T) {
		out, err := e.runCLI(t, "", "login", "-state="+state)
		if err != nil {
			t.Fatal(err)
		}
		checkToken(t, strings.TrimSpace(out))

		out, err = e.runCLI(t, "", "login", "-state="+state, "-format=json")
		if err != nil {
			t.Fatal(err)
		}
		var secret api.Secret
		if err := json.Unmarshal([]byte(out), &secret); err != nil || secret.Auth == nil {
			t.Fatalf("login -format=json: %v %s", err, out)
		}
		checkToken(t, secret.Auth.ClientToken)
	})

	t.Run("login through vault write with a CLI proof", func(t *testing.T) {
		proof, err := e.runCLI(t, "", "proof", "-state="+state)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Vault(t, nil, "write", "-field=token", "auth/entropy/login", "role=web", "client_id=build-7", "proof="+strings.TrimSpace(proof))
		if err != nil {
			t.Fatalf("vault write login: %v", err)
		}
		checkToken(t, strings.TrimSpace(out))

		// The same proof a second time is a replay.
		if _, err := e.Vault(t, nil, "write", "-field=token", "auth/entropy/login", "role=web", "client_id=build-7", "proof="+strings.TrimSpace(proof)); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("replayed proof: %v", err)
		}
	})

	t.Run("entropy never leaves through client reads", func(t *testing.T) {
		out, err := e.Vault(t, nil, "read", "-format=json", "auth/entropy/role/web/client/build-7")
		if err != nil {
			t.Fatal(err)
		}
		var resp struct{ Data map[string]interface{} }
		must(t, json.Unmarshal([]byte(out), &resp))
		if resp.Data["client_id"] != "build-7" {
			t.Fatalf("client read: %s", out)
		}
		for k, v := range resp.Data {
			if s, ok := v.(string); k == "entropy" || (ok && len(s) > 64) {
				t.Fatalf("client read returns %s: %.80v", k, v)
			}
		}
	})
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == 403
}

// TestRefusals sends every kind of bad proof to a real Vault: each gets the
// same 403 and no token, and the server log records the reason without the
// proof.
func TestRefusals(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read"})
	e.write(t, "auth/entropy/role/db", map[string]interface{}{"token_policies": "web-read"})
	a := e.enrollToState(t, "auth/entropy", "web", "a")
	e.enrollToState(t, "auth/entropy", "web", "b")
	e.enrollToState(t, "auth/entropy", "db", "a")
	const login = "auth/entropy/login"

	replayed := func(t *testing.T) map[string]interface{} {
		_, d := freshLoginData(t, a)
		if tok, _ := e.rawLogin(t, login, d); tok == "" {
			t.Fatal("first use of a proof refused")
		}
		return d
	}
	cases := map[string]func(t *testing.T) map[string]interface{}{
		"replayed proof": replayed,
		"replayed proof, sent again later": func(t *testing.T) map[string]interface{} {
			d := replayed(t)
			time.Sleep(2 * time.Second)
			return d
		},
		"another client's id": func(t *testing.T) map[string]interface{} {
			_, d := freshLoginData(t, a)
			d["client_id"] = "b"
			return d
		},
		"another role": func(t *testing.T) map[string]interface{} {
			_, d := freshLoginData(t, a)
			d["role"] = "db"
			return d
		},
		"tampered proof": func(t *testing.T) map[string]interface{} {
			_, d := freshLoginData(t, a)
			// Flip a bit of the decoded bytes, not of a base64 character:
			// that could make an invalid character (a malformed proof, not a
			// tampered one).
			raw, err := base64.RawURLEncoding.DecodeString(d["proof"].(string))
			must(t, err)
			raw[len(raw)/2] ^= 0x02
			d["proof"] = base64.RawURLEncoding.EncodeToString(raw)
			return d
		},
		"truncated proof": func(t *testing.T) map[string]interface{} {
			_, d := freshLoginData(t, a)
			d["proof"] = d["proof"].(string)[:100]
			return d
		},
		"garbage proof": func(t *testing.T) map[string]interface{} {
			return map[string]interface{}{"role": "web", "client_id": "a", "proof": strings.Repeat("x", 5000)}
		},
		"too old":     func(t *testing.T) map[string]interface{} { return proofAt(t, a, time.Now().Add(-5*time.Minute)) },
		"from future": func(t *testing.T) map[string]interface{} { return proofAt(t, a, time.Now().Add(5*time.Minute)) },
		"unknown client": func(t *testing.T) map[string]interface{} {
			_, d := freshLoginData(t, a)
			d["client_id"] = "nobody"
			return d
		},
	}
	var proofs []string
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			d := data(t)
			proofs = append(proofs, d["proof"].(string))
			e.mustRefuse(t, login, d)
		})
	}
	log := e.Log(t)
	for _, reason := range []error{protocol.ErrReplay, protocol.ErrHeaderMismatch, protocol.ErrOpen, protocol.ErrTooOld, protocol.ErrFromFuture} {
		if !strings.Contains(log, reason.Error()) {
			t.Errorf("server log lacks refusal reason %q", reason)
		}
	}
	for _, p := range proofs {
		if len(p) > 40 && strings.Contains(log, p[:40]) {
			t.Fatal("server log contains a proof")
		}
	}
}

// TestDeletedClientCannotLoginOrRenew: deleting a client stops its logins
// and the renewal of the tokens it already holds.
func TestDeletedClientCannotLoginOrRenew(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read", "token_ttl": "10m", "token_max_ttl": "1h"})
	state := e.enrollToState(t, "auth/entropy", "web", "doomed")
	secret, err := e.login(t, state)
	must(t, err)
	tc := e.TokenClient(t, secret.Auth.ClientToken)
	if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); err != nil {
		t.Fatalf("renewal before delete: %v", err)
	}

	if _, err := e.Client.Logical().DeleteWithContext(t.Context(), "auth/entropy/role/web/client/doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.login(t, state); err == nil {
		t.Fatal("deleted client logged in")
	}
	if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); err == nil {
		t.Fatal("deleted client's token renewed")
	}
}

// TestConcurrentLogins: 50 logins of one client at once all succeed.
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read"})
	state := e.enrollToState(t, "auth/entropy", "web", "busy")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	tokens := sync.Map{}
	for range 50 {
		wg.Go(func() {
			s, err := e.login(t, state)
			if err != nil {
				errs <- err
				return
			}
			tokens.Store(s.Auth.ClientToken, true)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent login: %v", err)
	}
	n := 0
	tokens.Range(func(any, any) bool { n++; return true })
	if n != 50 {
		t.Fatalf("%d distinct tokens from 50 logins", n)
	}
}

// TestEverySuite mounts the plugin three times, one suite each, and logs
// in on each.
func TestEverySuite(t *testing.T) {
	mounts := map[string]protocol.Suite{
		"entropy":      protocol.SuiteXWing,
		"entropy-p256": protocol.SuiteP256,
		"entropy-rsa":  protocol.SuiteRSA3072,
	}
	names := make([]string, 0, len(mounts))
	for m := range mounts {
		names = append(names, m)
	}
	e := newEnv(t, names...)
	for mount, suite := range mounts {
		t.Run(suite.String(), func(t *testing.T) {
			path := "auth/" + mount
			e.write(t, path+"/config", map[string]interface{}{"key_suite": suite.String()})
			keys, err := e.Client.Logical().ReadWithContext(t.Context(), path+"/keys")
			must(t, err)
			current := keys.Data["keys"].([]interface{})[0].(map[string]interface{})
			if current["suite"] != suite.String() {
				t.Fatalf("current key suite %v", current["suite"])
			}
			e.write(t, path+"/role/web", map[string]interface{}{"token_policies": "web-read"})
			state := e.enrollToState(t, path, "web", "")
			s, err := e.login(t, state)
			if err != nil {
				t.Fatalf("login with %s: %v", suite, err)
			}
			if !slices.Contains(s.Auth.Policies, "web-read") {
				t.Fatalf("policies %v", s.Auth.Policies)
			}
		})
	}
}

// TestReplayRefusedAfterRestart: single use holds across a server restart,
// and the server keys and clients survive it. The restarted server cannot
// know which proofs issued before its replay watermark were accepted: it
// refuses all of them, the replay and an honest unused proof alike, with
// the named refusal that tells an honest client to make a new one.
func TestReplayRefusedAfterRestart(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read"})
	state := e.enrollToState(t, "auth/entropy", "web", "steady")
	path, used := freshLoginData(t, state)
	if tok, _ := e.rawLogin(t, path, used); tok == "" {
		t.Fatal("first login refused")
	}
	_, unused := freshLoginData(t, state)

	e.Restart(t)

	for name, d := range map[string]map[string]interface{}{"the replay": used, "an unused proof from before": unused} {
		re := e.rawLoginError(t, path, d)
		if re.StatusCode != http.StatusBadRequest || !strings.Contains(strings.Join(re.Errors, " "), protocol.ErrProofPredatesWindow.Error()) {
			t.Fatalf("%s after the restart: %d %v", name, re.StatusCode, re.Errors)
		}
	}
	// The library makes new proofs until the window has opened.
	if _, err := e.login(t, state); err != nil {
		t.Fatalf("fresh login after restart: %v", err)
	}
	// And the replay is still refused.
	if tok, _ := e.rawLogin(t, path, used); tok != "" {
		t.Fatal("a replay was accepted after the restart")
	}
}
