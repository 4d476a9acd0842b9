package adversarial

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// forgerAddr is where the forger's requests come from: another loopback
// address (Linux routes all of 127/8 on lo), while Vault listens on
// 127.0.0.1 and the honest client connects from there.
const forgerAddr = "127.0.0.2"

// lockoutAttack is how long the forger keeps at it, and how often.
const (
	lockoutAttack   = time.Minute
	forgerInterval  = 50 * time.Millisecond // 20 forged proofs a second
	honestInterval  = time.Second
	lockoutVictim   = "renew/victim"
	lockoutRoleName = "renew"
)

// testLockout: a forger without the entropy, sending proofs for one client
// from its own address for a minute, is locked out of that client after
// lockout_threshold failed digests and refused before decryption from then
// on; the honest client logs in and renews its token every second
// throughout, from its own address, without one refusal (docs/protocol.md
// §15). With lockout_threshold=0 the same attack writes nothing.
func testLockout(t *testing.T, e *env) {
	forger := forgerClient(t)
	forge := func(t *testing.T, rc string) string {
		st := e.loadState(t, rc)
		st.Entropy = make([]byte, len(st.Entropy)) // not the client's: zeros
		return newForgery(t, st).encode(t)
	}

	t.Run("forger locked out, honest client unaffected", func(t *testing.T) {
		role, id, _ := strings.Cut(lockoutVictim, "/")
		logFrom := len(e.Log(t))
		before := e.MountStorage(t, mount)

		renewer := e.TokenClient(t, e.honestToken(t, lockoutVictim))

		// The honest client, in the background: every error is reported.
		ctx, cancel := context.WithTimeout(t.Context(), lockoutAttack)
		defer cancel()
		type tally struct{ logins, renewals int }
		done := make(chan tally, 1)
		go func() {
			var n tally
			defer func() { done <- n }()
			tick := time.NewTicker(honestInterval)
			defer tick.Stop()
			for {
				if _, err := e.tryHonestToken(t, lockoutVictim); err != nil {
					t.Errorf("honest login %d during the attack: %v", n.logins, err)
				}
				n.logins++
				if _, err := renewer.Auth().Token().RenewSelfWithContext(t.Context(), 300); err != nil {
					t.Errorf("renewal %d during the attack: %v", n.renewals, err)
				}
				n.renewals++
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()

		// The forger, at a steady rate until the minute is over.
		n := 0
		tick := time.NewTicker(forgerInterval)
		defer tick.Stop()
		for ctx.Err() == nil {
			r := postFrom(ctx, forger, e, role, id, forge(t, lockoutVictim))
			if r.status == 0 && ctx.Err() != nil {
				break
			}
			if r.status != http.StatusForbidden || r.token != "" {
				t.Errorf("forged proof %d: status %d, token %v (errors %q, %s)", n, r.status, r.token != "", r.errors, r.raw)
			}
			n++
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		h := <-done
		t.Logf("%d forged proofs from %s, %d honest logins and %d renewals from 127.0.0.1 in %s", n, forgerAddr, h.logins, h.renewals, lockoutAttack)

		// What the plugin saw, from its log. Timing-free: the forged proofs
		// tested against the entropy are exactly the threshold's, every
		// other one was refused as a locked source, which the server checks
		// before it opens a proof.
		log := e.logSince(t, logFrom)
		digests := countLines(log, "login refused", "client_id="+id, "remote_addr="+forgerAddr, "proof digest does not match")
		early := countLines(log, "login refused", "client_id="+id, "remote_addr="+forgerAddr, "source address is locked out")
		locks := countLines(log, "[WARN]", "source locked out of the client after failed proofs", "role="+role, "client_id="+id, "remote_addr="+forgerAddr, "failures=5")
		if digests != 5 {
			t.Errorf("%d forged proofs were tested against the entropy, want the threshold, 5", digests)
		}
		if locks != 1 {
			t.Errorf("%d source locks logged for %s, want 1", locks, forgerAddr)
		}
		if early != n-5 || n < 100 {
			t.Errorf("%d of %d forged proofs refused as a locked source, want all but 5 (and at least 100 sent)", early, n)
		}
		if honest := countLines(log, "login accepted", "client_id="+id, "remote_addr=127.0.0.1"); honest < h.logins {
			t.Errorf("%d logins accepted from 127.0.0.1 in the log, want %d", honest, h.logins)
		}
		if strings.Contains(log, "client under online attack") {
			t.Error("one source reported as an online attack")
		}

		rec := e.record(t, lockoutVictim)
		if locked, _ := rec["locked"].(bool); locked {
			t.Error("the client itself is locked")
		}
		if f, s := jsonInt(t, rec, "failed_logins"), jsonInt(t, rec, "locked_sources"); f != 5 || s != 1 {
			t.Errorf("failed_logins %d, locked_sources %d, want 5 and 1", f, s)
		}
		// A failed guess writes nothing: only the honest logins may have
		// changed storage, by a rotation of the client or by raising the
		// replay watermark (docs/protocol.md §8.3).
		added, removed, changed := harness.StorageDiff(before, e.MountStorage(t, mount))
		for _, k := range append(append(added, removed...), changed...) {
			if k != "replay/watermark" && k != "client/"+role+"/"+id && !strings.HasPrefix(k, "entropy/"+role+"/"+id+"/") {
				t.Errorf("storage outside the honest client's records changed: %s", k)
			}
		}

		// Unlock forgets the source's count: the next forged proof is
		// tested again.
		e.unlock(t, lockoutVictim)
		if f, s := jsonInt(t, e.record(t, lockoutVictim), "failed_logins"), jsonInt(t, e.record(t, lockoutVictim), "locked_sources"); f != 0 || s != 0 {
			t.Errorf("after unlock: failed_logins %d, locked_sources %d", f, s)
		}
		logFrom = len(e.Log(t))
		checkRefused(t, postFrom(t.Context(), forger, e, role, id, forge(t, lockoutVictim)), denied)
		e.waitRefusalLogged(t, logFrom, cDigest)
		e.honestLogin(t, lockoutVictim)
	})

	t.Run("threshold 0 never locks", func(t *testing.T) {
		before := e.MountStorage(t, mount)
		for range 20 {
			checkRefused(t, postFrom(t.Context(), forger, e, "nolockout", "erin", forge(t, "nolockout/erin")), denied)
		}
		assertUnchanged(t, before, e.MountStorage(t, mount))
		if n, locked := e.failures(t, "nolockout/erin"); n != 0 || locked {
			t.Fatalf("lockout_threshold=0: failed_logins %d, locked %v", n, locked)
		}
		e.honestLogin(t, "nolockout/erin")
	})
	e.alive(t)
}

// forgerClient is an HTTP client whose connections come from forgerAddr.
func forgerClient(t *testing.T) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(forgerAddr)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// postFrom sends a login through hc. A transport error is status 0.
func postFrom(ctx context.Context, hc *http.Client, e *env, role, clientID, proof string) response {
	body, _ := json.Marshal(map[string]string{"role": role, "client_id": clientID, "proof": proof})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Addr+"/v1/auth/"+mount+"/login", strings.NewReader(string(body)))
	if err != nil {
		return response{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return response{raw: err.Error()}
	}
	defer resp.Body.Close()
	var parsed struct {
		Errors []string `json:"errors"`
		Auth   *struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&parsed)
	r := response{status: resp.StatusCode, errors: parsed.Errors}
	if parsed.Auth != nil {
		r.token = parsed.Auth.ClientToken
	}
	return r
}

// honestToken logs the client in through the library and returns its token.
func (e *env) honestToken(t testing.TB, rc string) string {
	t.Helper()
	tok, err := e.tryHonestToken(t, rc)
	if err != nil {
		t.Fatalf("honest login of %s: %v", rc, err)
	}
	return tok
}

func (e *env) tryHonestToken(t testing.TB, rc string) (string, error) {
	auth, err := client.NewEntropyAuth(client.WithStateFile(e.state[rc]), client.WithMountPath("auth/"+mount))
	if err != nil {
		return "", err
	}
	c, err := e.Client.Clone()
	if err != nil {
		return "", err
	}
	c.ClearToken()
	secret, err := c.Auth().Login(t.Context(), auth)
	if err != nil {
		return "", err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return "", fmt.Errorf("no token")
	}
	return secret.Auth.ClientToken, nil
}

// logSince is the server log after offset from, once the plugin's lines
// have had a moment to come through its pipe.
func (e *env) logSince(t testing.TB, from int) string {
	t.Helper()
	time.Sleep(time.Second)
	log := e.Log(t)
	return log[min(from, len(log)):]
}

// countLines counts the log lines that contain every one of parts.
func countLines(log string, parts ...string) int {
	n := 0
lines:
	for _, line := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue lines
			}
		}
		n++
	}
	return n
}

func jsonInt(t testing.TB, d map[string]interface{}, k string) int64 {
	t.Helper()
	n, ok := d[k].(json.Number)
	if !ok {
		t.Fatalf("%s is %#v, not a number", k, d[k])
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return i
}
