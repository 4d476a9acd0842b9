package vaultagent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// Way 1: vault-entropy agent owns the token (login, renewal, re-login) and
// writes it to a sink; Vault Agent's token_file method reads the sink.
func TestTokenFile(t *testing.T) {
	start := time.Now()
	// 4s TTL, 10s max TTL: vault-entropy logs in again about every 7 s.
	e := newEnv(t, "4s", "10s")
	t.Logf("Vault ready in %s", time.Since(start).Round(time.Millisecond))
	sink := filepath.Join(e.dir, "sink", "token")
	// A rotation check 3 s after each login: one or two per token.
	ea := startEntropyAgent(t, e.dir, e.Addr, "-state", e.state, "-sink", sink, "-rotation-check", "3s")
	harness.WaitFor(t, 10*time.Second, "the sink", func() bool { _, err := os.Stat(sink); return err == nil })
	checkMode(t, sink)

	startVaultAgent(t, e.dir, e.Addr, agentConfig(e.Addr, e.dir, fmt.Sprintf(`  method "token_file" {
    config = {
      token_file_path = %q
    }
  }`, sink)))
	waitRendered(t, e.dir, "v1")
	e.putSecret(t, "v2")
	waitRendered(t, e.dir, "v2")

	// Re-logins: vault-entropy writes new tokens to the sink, and Vault
	// Agent moves to them when its own copy can no longer be renewed.
	ours := &tokens{path: sink}
	agents := &tokens{path: filepath.Join(e.dir, "agent-token")}
	harness.WaitFor(t, 40*time.Second, "three sink tokens, each used by Vault Agent", func() bool {
		ours.poll()
		return agents.poll() >= 3
	})
	for _, tok := range agents.seen {
		found := false
		for _, o := range ours.seen {
			found = found || o == tok
		}
		if !found {
			t.Fatal("Vault Agent used a token that was not in the sink")
		}
	}
	// Logins 2 and 3 took up a rotation (the first came within the
	// rotation period of the enrollment) and proved it.
	gen, _ := e.record(t)
	if gen < 2 {
		t.Fatalf("client at generation %d after three logins", gen)
	}
	// Still fresh after the re-logins and rotations.
	e.putSecret(t, "v3")
	waitRendered(t, e.dir, "v3")

	ea.stop(t)
	checkMode(t, sink)
	log := ea.logText(t)
	checkLogClean(t, log, append(ours.seen, agents.seen...))
	written := strings.Count(log, "token written to")
	checks := strings.Count(log, "rotation check: logged in")
	if written < 3 || checks < 1 || strings.Count(log, "; token revoked") != checks {
		t.Fatalf("%d tokens written, %d rotation checks", written, checks)
	}
	// Quiet now (Vault Agent does not log in with token_file): the state
	// file is at the generation the server has.
	gen, _ = e.record(t)
	st, err := client.LoadState(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != gen || gen < 2 {
		t.Fatalf("state at generation %d, server at %d", st.Generation, gen)
	}
	accepted, refused := e.serverLog(t)
	// (+1: a login may have been under way when SIGTERM came.)
	if refused != 0 || accepted < written+checks || accepted > written+checks+1 {
		t.Fatalf("server log: %d logins accepted, %d refused; %d tokens written, %d rotation checks", accepted, refused, written, checks)
	}
	e.checkNoClone(t)
	b, _ := os.ReadFile(filepath.Join(e.dir, "agent.log"))
	t.Logf("%d logins accepted (%d rotation checks), generation %d, %d tokens in the sink, %d used by Vault Agent "+
		"(%d reads of the sink, %d failed); %s in all", accepted, checks, gen, len(ours.seen), len(agents.seen),
		strings.Count(string(b), "authentication successful"), strings.Count(string(b), "error authenticating"),
		time.Since(start).Round(time.Millisecond))
}

// Way 2: Vault Agent owns the token; its jwt method sends the proofs
// vault-entropy agent writes (role + jwt at auth/entropy/login).
func TestJWT(t *testing.T) {
	start := time.Now()
	// -proof-every 10s (the minimum) against a 15s max TTL: each proof
	// gives Vault Agent a token that outlives the next proof.
	e := newEnv(t, "5s", "15s")
	t.Logf("Vault ready in %s", time.Since(start).Round(time.Millisecond))
	proof := filepath.Join(e.dir, "proof", "jwt")
	ea := startEntropyAgent(t, e.dir, e.Addr, "-state", e.state, "-proof-file", proof, "-proof-every", "10s")
	harness.WaitFor(t, 10*time.Second, "the proof file", func() bool { _, err := os.Stat(proof); return err == nil })
	checkMode(t, proof)
	first, err := os.ReadFile(proof)
	if err != nil {
		t.Fatal(err)
	}

	startVaultAgent(t, e.dir, e.Addr, agentConfig(e.Addr, e.dir, fmt.Sprintf(`  enable_reauth_on_new_credentials = true
  method "jwt" {
    mount_path = "auth/entropy"
    config = {
      path = %q
      role = "web"
    }
  }`, proof)))
	waitRendered(t, e.dir, "v1")
	// Vault Agent read the proof and deleted it.
	if _, err := os.Stat(proof); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the proof file is still there: %v", err)
	}
	e.putSecret(t, "v2")
	waitRendered(t, e.dir, "v2")

	// Each new proof is one Vault Agent login: wait for two re-logins.
	agentLog := filepath.Join(e.dir, "agent.log")
	agentLogins := func() int {
		b, _ := os.ReadFile(agentLog)
		return strings.Count(string(b), "authentication successful")
	}
	agents := &tokens{path: filepath.Join(e.dir, "agent-token")}
	harness.WaitFor(t, 40*time.Second, "two Vault Agent re-logins", func() bool {
		agents.poll()
		return agentLogins() >= 3
	})
	// Each cycle's login took up the rotation Vault Agent's login before
	// was handed, and Vault Agent's next login proved it.
	gen, _ := e.record(t)
	if gen < 3 {
		t.Fatalf("client at generation %d after three Vault Agent logins", gen)
	}
	e.putSecret(t, "v3")
	waitRendered(t, e.dir, "v3")

	ea.stop(t)
	log := ea.logText(t)
	checkLogClean(t, log, append(agents.seen, strings.TrimSpace(string(first))))
	if b, _ := os.ReadFile(agentLog); strings.Contains(string(b), "error authenticating") {
		t.Fatal("Vault Agent failed to authenticate at least once")
	}
	// The server's generation is the state's, or the pending one that
	// Vault Agent's last login proved.
	gen, _ = e.record(t)
	st, err := client.LoadState(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if gen != st.Generation && (st.Pending == nil || gen != st.Pending.Generation) {
		t.Fatalf("server at generation %d, state %s", gen, st)
	}
	// Every proof was accepted once: no replay, no stale proof, no clone.
	accepted, refused := e.serverLog(t)
	cycles := strings.Count(log, "cycle: logged in")
	if refused != 0 || accepted < cycles+agentLogins() {
		t.Fatalf("server log: %d logins accepted, %d refused; %d cycles, %d Vault Agent logins", accepted, refused, cycles, agentLogins())
	}
	e.checkNoClone(t)
	t.Logf("%d logins accepted (%d cycles, %d by Vault Agent), generation %d; %s in all",
		accepted, cycles, agentLogins(), gen, time.Since(start).Round(time.Millisecond))
}

var retryDelay = regexp.MustCompile(`login failed: cannot reach Vault: .*; retrying in ([0-9.]+m?s)`)

// With nothing listening at VAULT_ADDR, the agent retries with growing
// delays and still stops at once on SIGTERM.
func TestUnreachableVault(t *testing.T) {
	harness.Integration(t)
	dir := t.TempDir()
	sink := filepath.Join(dir, "token")
	addr := fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t))
	ea := startEntropyAgent(t, dir, addr, "-state", offlineState(t), "-sink", sink)
	var delays []time.Duration
	harness.WaitFor(t, 20*time.Second, "four failed logins", func() bool {
		delays = delays[:0]
		for _, m := range retryDelay.FindAllStringSubmatch(ea.logText(t), -1) {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			delays = append(delays, d)
		}
		return len(delays) >= 4
	})
	for i, d := range delays {
		if d < time.Second || (i > 0 && d <= delays[i-1]) {
			t.Fatalf("retry delays %v do not start at 1s and grow", delays)
		}
	}
	ea.stop(t)
	if _, err := os.Stat(sink); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a sink was written without a login: %v", err)
	}
	t.Logf("retry delays %v", delays)
}
