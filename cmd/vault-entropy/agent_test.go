package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

func TestAgentFlags(t *testing.T) {
	state := bootstrapped(t)
	dir := t.TempDir()
	sink, proof := filepath.Join(dir, "token"), filepath.Join(dir, "proof")
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"neither output", []string{}, "give -sink=PATH (token mode) or -proof-file=PATH"},
		{"both outputs", []string{"-sink", sink, "-proof-file", proof}, "give only one of -sink and -proof-file"},
		{"proof-every too short", []string{"-proof-file", proof, "-proof-every", "9s"}, "-proof-every must be at least 10s, not 9s"},
		{"proof-every not a duration", []string{"-proof-file", proof, "-proof-every", "often"}, `invalid value "often" for flag -proof-every`},
		{"proof-every without a number", []string{"-proof-file", proof, "-proof-every", "15"}, `invalid value "15" for flag -proof-every`},
		{"proof-max-age zero", []string{"-proof-file", proof, "-proof-max-age", "0s"}, "-proof-max-age must be at least 1s"},
		{"rotation-check zero", []string{"-sink", sink, "-rotation-check", "0"}, "-rotation-check must be at least 1s, not 0s"},
		{"rotation-check negative", []string{"-sink", sink, "-rotation-check", "-5m"}, "-rotation-check must be at least 1s"},
		{"max-backoff below the first delay", []string{"-sink", sink, "-max-backoff", "500ms"}, "-max-backoff must be at least 1s, not 500ms"},
		{"proof-every in token mode", []string{"-sink", sink, "-proof-every", "1m"}, "-proof-every applies only with -proof-file"},
		{"proof-max-age in token mode", []string{"-sink", sink, "-proof-max-age", "1m"}, "-proof-max-age applies only with -proof-file"},
		{"rotation-check in proof mode", []string{"-proof-file", proof, "-rotation-check", "1m"}, "-rotation-check applies only with -sink"},
		{"sink is the state", []string{"-sink", state}, "is the state file"},
		{"proof file is the state", []string{"-proof-file", state}, "is the state file"},
		{"sink is the state by another name", []string{"-sink", filepath.Join(filepath.Dir(state), ".", "x", "..", filepath.Base(state))}, "is the state file"},
		{"sink is the state's lock", []string{"-sink", state + ".lock"}, "is the state's lock file"},
		{"proof file is the state's lock", []string{"-proof-file", state + ".lock"}, "is the state's lock file"},
		{"sink is a temporary file of the state", []string{"-sink", filepath.Join(filepath.Dir(state), "."+filepath.Base(state)+".tmp-123")}, "temporary file of the state"},
		{"extra argument", []string{"-sink", sink, "now"}, "unexpected arguments: [now]"},
		{"unknown flag", []string{"-sink", sink, "-every", "1m"}, "flag provided but not defined: -every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"agent", "-state", state}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("agent %v: want exit 2 and %q, got %+v", tc.args, tc.want, r)
			}
		})
	}
	// Nothing was started: no output file appeared.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused command wrote %v", entries)
	}
}

func TestOutputCollides(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		name, output, state string
		want                string // "" when allowed
	}{
		{"own file", in("token"), in("state.json"), ""},
		{"another directory", filepath.Join(t.TempDir(), ".state.json.tmp-1"), in("state.json"), ""},
		{"the state", in("state.json"), in("state.json"), "is the state file"},
		{"the state through a symlink", filepath.Join(link, "state.json"), in("state.json"), "is the state file"},
		{"the lock", in("state.json.lock"), in("state.json"), "lock file"},
		{"a temporary file of the state", in(".state.json.tmp-42"), in("state.json"), "temporary file of the state"},
		{"the state is a temporary file of the output", in("token"), in(".token.tmp-1"), "give the agent's output another name"},
		{"the lock is a temporary file of the output", in("s"), in(".s.tmp-x"), "give the agent's output another name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := outputCollides(tc.output, tc.state)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("outputCollides(%s, %s) = %v, want %q", tc.output, tc.state, err, tc.want)
			}
		})
	}
}

func TestAgentHelpAndMissingState(t *testing.T) {
	r := runCLI(t, "", "agent", "-h")
	if r.code != exitOK || !strings.Contains(r.stderr, "Usage: vault-entropy agent") || !strings.Contains(r.stderr, "-proof-every") {
		t.Fatalf("agent -h: %+v", r)
	}
	if r := runCLI(t, "", "help"); !strings.Contains(r.stderr, "agent ") {
		t.Fatalf("the command list lacks agent: %+v", r)
	}
	// A missing state file fails at once (exit 1) instead of retrying.
	missing := filepath.Join(t.TempDir(), "none.json")
	r = runCLI(t, "", "agent", "-state", missing, "-sink", filepath.Join(t.TempDir(), "token"))
	if r.code != exitError || !strings.Contains(r.stderr, "vault-entropy bootstrap") {
		t.Fatalf("agent without state: %+v", r)
	}
}

func TestRetryBackoff(t *testing.T) {
	// The SDK's jitter is random: many runs of each, within the bounds
	// the agent's help promises, growing until the cap.
	for _, maxDelay := range []time.Duration{time.Second, 1200 * time.Millisecond, 10 * time.Second, 5 * time.Minute} {
		t.Run(maxDelay.String(), func(t *testing.T) {
			for range 200 {
				b := newRetryBackoff(maxDelay)
				prev := time.Duration(0)
				for i := range 12 {
					d := b.next()
					if d < minBackoff || d > maxDelay {
						t.Fatalf("delay %d out of [%s, %s]: %s", i+1, minBackoff, maxDelay, d)
					}
					if i == 0 && d > minBackoff*4/3 {
						t.Fatalf("first delay %s, want at most %s", d, minBackoff*4/3)
					}
					// Below the cap each delay is more than 1.5 times the
					// one before (doubled, less at most a quarter).
					if i > 0 && 2*prev <= maxDelay && d < prev*3/2 {
						t.Fatalf("delay %d (%s) did not grow from %s", i+1, d, prev)
					}
					prev = d
				}
				b.Reset()
				if d := b.next(); d < minBackoff || d > min(maxDelay, minBackoff*4/3) {
					t.Fatalf("first delay after a reset: %s", d)
				}
			}
		})
	}
}

func TestAgentLogLines(t *testing.T) {
	var buf bytes.Buffer
	log := newAgentLogger(&buf)
	// Text from Vault cannot carry an escape sequence or start a line.
	log.Info("renewed token \x1b[2Jacc\r\nSuccess! ttl 1s")
	log.Warn("login failed: cannot reach Vault: dial tcp: connection refused; retrying in 1s")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || strings.ContainsAny(buf.String(), "\x1b\r") {
		t.Fatalf("log: %q", buf.String())
	}
	for i, want := range []string{"[INFO]  agent: renewed token [2Jacc  Success! ttl 1s", "[WARN]  agent: login failed: "} {
		ts, rest, _ := strings.Cut(lines[i], " ")
		if at, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err != nil || at.Location() != time.UTC || !strings.HasPrefix(rest, want) {
			t.Fatalf("line %d: %q, want a UTC time and %q", i+1, lines[i], want)
		}
	}
}

func TestNextProofStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const maxAge = 30 * time.Second
	for _, tc := range []struct {
		name      string
		now       time.Time
		cycleAt   time.Time
		written   time.Time
		unread    bool
		wantStep  proofStep
		wantUntil time.Time
	}{
		{"first cycle at start", t0, t0, time.Time{}, false, proofCycle, t0},
		{"first cycle, stale file from an earlier run", t0, t0, time.Time{}, true, proofCycle, t0},
		{"cycle due", at(900), at(900), at(0), false, proofCycle, at(900)},
		{"cycle overdue", at(950), at(900), at(0), true, proofCycle, at(950)},
		{"cycle wins over a replacement", at(900), at(900), at(800), true, proofCycle, at(900)},
		{"read: wait for the cycle", at(40), at(900), at(0), false, proofWait, at(900)},
		{"unread, young: wait until it is old", at(10), at(900), at(0), true, proofWait, at(30)},
		{"unread, old: replace", at(30), at(900), at(0), true, proofReplace, at(30)},
		{"unread, older: replace", at(500), at(900), at(0), true, proofReplace, at(500)},
		{"unread, old only after the cycle: wait for the cycle", at(5), at(20), at(0), true, proofWait, at(20)},
		{"unread, nothing written by us: wait for the cycle", at(5), at(900), time.Time{}, true, proofWait, at(900)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, until := nextProofStep(tc.now, tc.cycleAt, tc.written, tc.unread, maxAge)
			if step != tc.wantStep || !until.Equal(tc.wantUntil) {
				t.Fatalf("got %s until %s, want %s until %s", step, until.Sub(t0), tc.wantStep, tc.wantUntil.Sub(t0))
			}
		})
	}
}

func TestTokenRefresh(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		ttl        time.Duration
		extendable bool
		now        time.Time
		want       time.Time // zero: keep renewing
	}{
		{"renewable: keep renewing", time.Hour, true, t0.Add(50 * time.Minute), time.Time{}},
		{"no TTL: never replaced", 0, false, t0.Add(time.Hour), time.Time{}},
		{"capped late: replace now", time.Hour, false, t0.Add(3 * time.Hour), t0.Add(3 * time.Hour)},
		{"capped at birth (ttl = max ttl): at half the ttl", time.Hour, false, t0.Add(time.Second), t0.Add(30 * time.Minute)},
		{"not renewable: at half the ttl", 10 * time.Minute, false, t0, t0.Add(5 * time.Minute)},
		{"exactly at half", 10 * time.Minute, false, t0.Add(5 * time.Minute), t0.Add(5 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenRefreshAt(t0, tc.ttl, tc.extendable, tc.now); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		ttl   time.Duration
		lease int
		want  bool
	}{
		{time.Hour, 3600, false}, {time.Hour, 3599, true}, {time.Hour, 0, true}, {5 * time.Second, 5, false}, {5 * time.Second, 4, true},
		// A huge lease is not capped, rather than overflowing into the past.
		{time.Hour, 1 << 62, false}, {time.Hour, math.MaxInt64, false},
	} {
		if got := capped(tc.ttl, tc.lease); got != tc.want {
			t.Errorf("capped(%s, %d) = %v, want %v", tc.ttl, tc.lease, got, tc.want)
		}
	}
}

// syncBuffer is a log the agent writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tokenVault adds the token store to testVault: logins get tokens with
// a TTL and a max TTL, which renew-self extends up to the max TTL and
// revoke-self ends.
type tokenVault struct {
	*testVault
	url         string
	ttl, maxTTL time.Duration

	mu          sync.Mutex
	tokens      map[string]*fakeToken
	issued      []string // tokens in the order of their logins
	refuseRenew bool
}

type fakeToken struct {
	accessor        string
	expires, maxEnd time.Time
	revoked         bool
	renewals        int
}

func newTokenVault(t *testing.T, ttl, maxTTL time.Duration) (*tokenVault, string) {
	t.Helper()
	v, state := newTestVault(t, false)
	tv := &tokenVault{testVault: v, ttl: ttl, maxTTL: maxTTL, tokens: map[string]*fakeToken{}}
	srv := httptest.NewServer(http.HandlerFunc(tv.serve))
	t.Cleanup(srv.Close)
	tv.url = srv.URL
	t.Setenv("VAULT_ADDR", srv.URL)
	return tv, state
}

func (tv *tokenVault) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, body interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if body != nil {
			json.NewEncoder(w).Encode(body)
		}
	}
	deny := func() { reply(http.StatusForbidden, map[string]interface{}{"errors": []string{"permission denied"}}) }
	tv.mu.Lock()
	defer tv.mu.Unlock()
	now := time.Now()
	tok := tv.tokens[r.Header.Get("X-Vault-Token")]
	valid := tok != nil && !tok.revoked && now.Before(tok.expires)
	switch r.URL.Path {
	case "/v1/auth/entropy/login":
		rec := httptest.NewRecorder()
		tv.testVault.serve(rec, r)
		var resp map[string]interface{}
		json.Unmarshal(rec.Body.Bytes(), &resp)
		auth, _ := resp["auth"].(map[string]interface{})
		if rec.Code != http.StatusOK || auth == nil {
			reply(rec.Code, resp)
			return
		}
		n := len(tv.issued) + 1
		token := fmt.Sprintf("hvs.token-%d", n)
		ft := &fakeToken{accessor: fmt.Sprintf("accessor-%d", n), expires: now.Add(tv.ttl), maxEnd: now.Add(tv.maxTTL)}
		tv.tokens[token] = ft
		tv.issued = append(tv.issued, token)
		auth["client_token"], auth["accessor"] = token, ft.accessor
		auth["lease_duration"], auth["renewable"] = int(tv.ttl.Seconds()), true
		reply(http.StatusOK, resp)
	case "/v1/auth/token/renew-self":
		if !valid {
			deny()
			return
		}
		if tv.refuseRenew {
			// What Vault answers when the plugin refuses a renewal.
			reply(http.StatusBadRequest, map[string]interface{}{"errors": []string{"policies have changed, not renewing"}})
			return
		}
		tok.expires = now.Add(tv.ttl)
		if tok.expires.After(tok.maxEnd) {
			tok.expires = tok.maxEnd
		}
		tok.renewals++
		reply(http.StatusOK, map[string]interface{}{"auth": map[string]interface{}{"accessor": tok.accessor,
			"lease_duration": int(tok.expires.Sub(now).Seconds()), "renewable": true}})
	case "/v1/auth/token/revoke-self":
		if !valid {
			deny()
			return
		}
		tok.revoked = true
		reply(http.StatusNoContent, nil)
	default:
		reply(http.StatusNotFound, map[string]interface{}{"errors": []string{}})
	}
}

// startAgent runs `vault-entropy agent args...` in the test process until
// the returned stop is called; stop returns its exit code.
func startAgent(t *testing.T, args ...string) (log *syncBuffer, stop func() int) {
	t.Helper()
	log = &syncBuffer{}
	cmd := commands["agent"](&baseCommand{name: "agent", stdin: strings.NewReader(""), stdout: log, stderr: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runCommand(ctx, cmd, args) }()
	stopped := false
	stop = func() int {
		t.Helper()
		if stopped {
			return -1
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			// Prompt: no login or wait runs on after the stop.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the agent took %s to stop", d)
			}
			if err != nil {
				return exitError
			}
			return exitOK
		case <-time.After(10 * time.Second):
			t.Fatal("the agent did not stop")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return log, stop
}

// eventually polls cond every 10 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentTokenMode(t *testing.T) {
	// A 2s TTL capped at 3s: the second renewal comes back short, so the
	// agent logs in again about every 1.4 s.
	tv, state := newTokenVault(t, 2*time.Second, 3*time.Second)
	sink := filepath.Join(t.TempDir(), "sink", "token")
	log, stop := startAgent(t, "-state", state, "-sink", sink, "-rotation-check", "1s")

	// The sink's successive tokens, as the agent writes them.
	var seen []string
	read := func() {
		b, err := os.ReadFile(sink)
		if err == nil && (len(seen) == 0 || seen[len(seen)-1] != string(b)) {
			seen = append(seen, string(b))
		}
	}
	eventually(t, 15*time.Second, "three tokens in the sink and a rotation check", func() bool {
		read()
		return len(seen) >= 3 && strings.Contains(log.String(), "rotation check: logged in")
	})
	if code := stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	read()

	fi, err := os.Stat(sink)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sink: %v, %v", fi, err)
	}
	tv.mu.Lock()
	defer tv.mu.Unlock()
	inSink := map[string]bool{}
	for _, tok := range seen {
		ft := tv.tokens[tok]
		// Exactly a token, no newline; and never revoked: a consumer may
		// still be using it.
		if ft == nil {
			t.Fatalf("the sink held something that is not a token Vault issued (%d bytes)", len(tok))
		}
		if ft.revoked {
			t.Fatalf("sink token %s was revoked", ft.accessor)
		}
		if ft.renewals == 0 && tok != seen[len(seen)-1] {
			t.Errorf("sink token %s was never renewed", ft.accessor)
		}
		inSink[tok] = true
	}
	// Every other token came from a rotation check and was revoked.
	checks := 0
	for _, tok := range tv.issued {
		if !inSink[tok] {
			checks++
			if !tv.tokens[tok].revoked {
				t.Errorf("rotation check token %s was not revoked", tv.tokens[tok].accessor)
			}
		}
	}
	if checks == 0 || checks != strings.Count(log.String(), "rotation check: logged in") {
		t.Errorf("%d rotation check tokens, log:\n%s", checks, log)
	}
	// Each login took up a rotation: the state moved on.
	s, err := client.LoadState(state)
	if err != nil || s.Generation < 3 {
		t.Fatalf("state after %d logins: %v, %v", len(tv.issued), s, err)
	}
	for _, want := range []string{"token written to " + sink, "renewed token accessor-1"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// The short renewal and the watcher's end come together; either one
	// may be seen first.
	if !strings.Contains(log.String(), "near its max TTL; logging in again") && !strings.Contains(log.String(), "can no longer be renewed; logging in again") {
		t.Errorf("no re-login logged:\n%s", log)
	}
	if strings.Contains(log.String(), "hvs.") {
		t.Fatalf("a token reached the log:\n%s", log)
	}
}

func TestAgentTokenModeRenewalRefused(t *testing.T) {
	tv, state := newTokenVault(t, time.Hour, 2*time.Hour)
	tv.mu.Lock()
	tv.refuseRenew = true
	tv.mu.Unlock()
	sink := filepath.Join(t.TempDir(), "token")
	log, stop := startAgent(t, "-state", state, "-sink", sink)
	// A refused renewal gets the token replaced after a backoff delay.
	eventually(t, 10*time.Second, "a second login", func() bool {
		return strings.Count(log.String(), "token written to") >= 2
	})
	if code := stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(log.String(), "renewing token accessor-1 failed: ") || !strings.Contains(log.String(), "logging in again in 1") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestAgentProofMode(t *testing.T) {
	tv, state := newTokenVault(t, time.Hour, time.Hour)
	v := tv.testVault
	proofFile := filepath.Join(t.TempDir(), "agent", "proof")
	auth, err := client.NewEntropyAuth(client.WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vaultClient()
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	// Short periods stand for -proof-every and -proof-max-age, which the
	// flags keep at 10s and up.
	a := &agent{cfg: agentConfig{statePath: state, proofFile: proofFile, proofEvery: 600 * time.Millisecond,
		proofMaxAge: 200 * time.Millisecond, maxBackoff: time.Second}, auth: auth, vault: c, log: newAgentLogger(log)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Play Vault Agent: take each proof as it appears (deleting the file)
	// and log in with it. Every proof must pass, whenever it is taken:
	// none may prove a superseded generation, which the fake Vault, like
	// the real one, refuses.
	used := 0
	consume := func() {
		b, err := os.ReadFile(proofFile)
		if err != nil {
			return
		}
		os.Remove(proofFile)
		env, err := protocol.ParseProof(string(b))
		if err != nil || strings.ContainsAny(string(b), " \n") {
			t.Fatalf("the file holds no proof alone: %v", err)
		}
		resp, err := http.Post(tv.url+"/v1/auth/entropy/login", "application/json",
			strings.NewReader(fmt.Sprintf(`{"role":"web","client_id":%q,"proof":%q}`, env.Header.ClientID, string(b))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("proof %d refused (%d); log:\n%s", used+1, resp.StatusCode, log)
		}
		used++
	}
	eventually(t, 10*time.Second, "three proofs used", func() bool {
		if fi, err := os.Stat(proofFile); err == nil && fi.Mode().Perm() != 0o600 {
			t.Fatalf("proof file mode %v", fi.Mode())
		}
		consume()
		return used >= 3
	})
	// Consumed at once, no proof was ever replaced: each came from a cycle.
	if strings.Contains(log.String(), "replaced the unread proof") {
		t.Fatalf("a consumed proof was replaced:\n%s", log)
	}
	// Left unread, the proof is replaced, without a login in between.
	eventually(t, 5*time.Second, "a replaced proof", func() bool { return strings.Contains(log.String(), "replaced the unread proof") })
	lines := strings.Split(log.String(), "\n")
	for i, l := range lines {
		if strings.Contains(l, "replaced the unread proof") {
			if !strings.Contains(lines[i-1], "wrote a fresh proof") {
				t.Fatalf("the replacement came after %q, not after a write", lines[i-1])
			}
			break
		}
	}
	// An old proof taken late still passes, and so does the next cycle's.
	consume()
	cycles := strings.Count(log.String(), "cycle: logged in")
	eventually(t, 5*time.Second, "a cycle after the replacement", func() bool {
		consume()
		return strings.Count(log.String(), "cycle: logged in") > cycles+1 && used >= 5
	})
	cancel()
	<-done
	if !strings.HasSuffix(log.String(), "is left as it is\n") || strings.Contains(log.String(), "failed") {
		t.Fatalf("log:\n%s", log)
	}
	// Each library login took up a rotation; each cycle's proof proves
	// the pending generation it learned.
	s, err := client.LoadState(state)
	if err != nil || s.Generation < 3 || s.Pending == nil {
		t.Fatalf("state: %v %v", s, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var library, agent int
	for _, p := range v.paths {
		switch p {
		case "PUT /v1/auth/entropy/login":
			library++
		case "POST /v1/auth/entropy/login":
			agent++
		default:
			t.Errorf("unexpected request %s", p)
		}
	}
	if agent != used || library != strings.Count(log.String(), "cycle: logged in") {
		t.Fatalf("%d library logins, %d proofs used; log:\n%s", library, agent, log)
	}
	// Each cycle's token was revoked at once.
	tv.mu.Lock()
	defer tv.mu.Unlock()
	revoked := 0
	for _, tok := range tv.tokens {
		if tok.revoked {
			revoked++
		}
	}
	if revoked != library {
		t.Fatalf("%d of %d cycle tokens revoked", revoked, library)
	}
}
