package integration

// The lifecycle of issue 4 on a real Vault server process: in-band entropy
// rotation, crashes of the client and of the server in the middle of it,
// clone detection, server key rotation, lockout and revocation, garbage
// logins, tidy, challenge mode and the sealed receipt.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// entropyMount is where newEnv mounts the plugin.
const entropyMount = "auth/entropy"

// TestRotationOverManyLogins: 200 consecutive logins of one client with a
// one-second rotation period. Every login succeeds and its token reads the
// secret, the generation advances several times, and after every login the
// server's record and the state file name the same current and pending
// generations: neither side ever gets ahead of the other.
func TestRotationOverManyLogins(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", map[string]interface{}{"rotation_period": "1s"})
	state := e.enrollToState(t, entropyMount, "web", "steady")

	const logins = 200
	start := time.Now()
	prev := uint64(1)
	for i := range logins {
		secret, err := e.login(t, state)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		c := e.TokenClient(t, secret.Auth.ClientToken)
		if sec, err := c.Logical().ReadWithContext(t.Context(), allowedSecret); err != nil || sec == nil {
			t.Fatalf("login %d: reading the allowed secret: %v", i, err)
		}
		st, rec := e.agree(t, state, "web", "steady")
		// The token names the generation its proof proved, which is the
		// state's current one once the login has been saved.
		if g := secret.Auth.Metadata["generation"]; g != strconv.FormatUint(st.Generation, 10) {
			t.Fatalf("login %d: token generation %s, state generation %d", i, g, st.Generation)
		}
		// One login proves one generation: it can promote at most one.
		if st.Generation < prev || st.Generation > prev+1 {
			t.Fatalf("login %d: generation went from %d to %d", i, prev, st.Generation)
		}
		if st.Generation > 1 && rec.Superseded != st.Generation-1 {
			t.Fatalf("login %d: superseded generation %d at generation %d", i, rec.Superseded, st.Generation)
		}
		prev = st.Generation
		// Spread the logins over several rotation periods.
		time.Sleep(25 * time.Millisecond)
	}
	elapsed := time.Since(start)
	t.Logf("%d logins in %s; generation 1 -> %d", logins, elapsed.Round(time.Millisecond), prev)
	if prev < 4 {
		t.Fatalf("the generation advanced only to %d in %s with rotation_period=1s", prev, elapsed)
	}
	e.mustNotBeLocked(t, "web", "steady")
}

// TestClientKilledMidLogin runs the real CLI and SIGKILLs it at a random
// moment of its login, with a rotation forced before each attempt, so that
// some kills land after the server has issued or promoted a generation and
// before the client has saved it. After every kill the state file still
// loads and a normal login succeeds; the client is never locked.
func TestClientKilledMidLogin(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", nil)
	state := e.enrollToState(t, entropyMount, "web", "crashy")
	rotate := entropyMount + "/role/web/client/crashy/rotate"

	// How long a whole CLI login with a forced rotation takes here: the
	// kills are spread over twice that, so that they land in every phase
	// (before the request, while the server works, between the response
	// and the save, after it) and some runs finish.
	var runs []time.Duration
	for range 5 {
		e.write(t, rotate, nil)
		t0 := time.Now()
		if out, err := e.runCLI(t, "", "login", "-state="+state); err != nil {
			t.Fatalf("CLI login: %v %s", err, out)
		}
		runs = append(runs, time.Since(t0))
	}
	slices.Sort(runs)
	span := 2 * runs[len(runs)/2]
	t.Logf("a CLI login takes about %s; kills are spread over [0, %s)", runs[len(runs)/2].Round(time.Millisecond), span.Round(time.Millisecond))

	// At least 40 attempts; more, up to 120, until one kill has landed in
	// the window that matters: the server has moved on (issued or
	// promoted a generation) and the client has not saved it.
	var attempts, killed, serverAhead int
	for attempts < 40 || (serverAhead == 0 && attempts < 120) {
		attempts++
		e.write(t, rotate, nil)
		delay := time.Duration(rand.Int64N(int64(span)))
		if !e.cliLoginKilledAfter(t, state, delay) {
			continue
		}
		killed++
		// The save is atomic: a kill leaves the old state or the new.
		st, err := client.LoadState(state)
		if err != nil {
			t.Fatalf("attempt %d: state after a kill: %v", attempts, err)
		}
		rec := e.clientRecord(t, "web", "crashy")
		if rec.Generation > st.Generation || (rec.Pending != 0 && (st.Pending == nil || st.Pending.Generation != rec.Pending)) {
			serverAhead++
		}
		if _, err := e.login(t, state); err != nil {
			t.Fatalf("attempt %d: login after the CLI was killed after %s (state %v, server generation %d pending %d): %v",
				attempts, delay, st, rec.Generation, rec.Pending, err)
		}
		e.agree(t, state, "web", "crashy")
	}
	t.Logf("%d attempts: %d finished before the kill, %d killed mid-login, %d of them with the server ahead of the saved state",
		attempts, attempts-killed, killed, serverAhead)
	if killed < attempts/4 {
		t.Fatalf("only %d of %d CLI logins were killed before they finished", killed, attempts)
	}
	if serverAhead == 0 {
		t.Fatalf("no kill in %d attempts landed between the server's write and the client's save", attempts)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(state), ".*.tmp-*")); len(tmp) > 0 {
		t.Logf("killed saves left %d temporary files next to the state", len(tmp))
	}
	e.mustNotBeLocked(t, "web", "crashy")
	if lines := e.logLines(t, "clone detected", "client_id=crashy"); len(lines) > 0 {
		t.Fatalf("a killed client was taken for a clone:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := e.login(t, state); err != nil {
		t.Fatal(err)
	}
}

// TestServerKilledDuringRotation SIGKILLs the Vault server (raft storage)
// while one client logs in over and over with a rotation forced before each
// login, so that the crash lands among entropy writes, record writes and
// promotions. After each restart the client logs in and is not locked.
func TestServerKilledDuringRotation(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", map[string]interface{}{"rotation_period": "1s"})
	state := e.enrollToState(t, entropyMount, "web", "survivor")

	// The loop's clients: the address and the root token survive restarts
	// (same config, same init.json). No retries: a retried request would
	// resend a proof the server may already have accepted (a replay).
	root, err := e.Client.Clone()
	must(t, err)
	root.SetToken(e.RootToken)
	root.SetMaxRetries(0)
	lc, err := root.Clone()
	must(t, err)
	lc.ClearToken()

	const kills = 4
	for round := range kills {
		ctx, cancel := context.WithCancel(t.Context())
		var ok, bad atomic.Int64
		var lastBad atomic.Value
		var wg sync.WaitGroup
		wg.Go(func() {
			for ctx.Err() == nil {
				// Errors are expected while the server is down.
				_, _ = root.Logical().WriteWithContext(ctx, entropyMount+"/role/web/client/survivor/rotate", nil)
				auth, err := client.NewEntropyAuth(client.WithStateFile(state))
				if err != nil {
					lastBad.Store(err.Error())
					bad.Add(1)
					return
				}
				c, err := lc.Clone()
				if err != nil {
					continue
				}
				_, err = c.Auth().Login(ctx, auth)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, client.ErrLoginRefused), errors.Is(err, client.ErrReceipt), errors.Is(err, client.ErrCorruptState):
					// Never acceptable: the server answered, and said no.
					lastBad.Store(err.Error())
					bad.Add(1)
				default:
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		before := ok.Load()
		e.Kill(t)
		cancel()
		wg.Wait()
		if bad.Load() > 0 {
			t.Fatalf("round %d: %d logins refused around the crash; last: %v", round, bad.Load(), lastBad.Load())
		}
		if before == 0 {
			t.Fatalf("round %d: no login succeeded before the kill", round)
		}
		secret := e.loginUntil(t, state, time.Minute)
		if secret == nil {
			t.Fatalf("round %d: the client cannot log in after the restart", round)
		}
		st, rec := e.agree(t, state, "web", "survivor")
		t.Logf("round %d: %d logins before the kill; after the restart generation %d, pending %d", round, before, st.Generation, rec.Pending)
		e.mustNotBeLocked(t, "web", "survivor")
	}
	st, err := client.LoadState(state)
	must(t, err)
	if st.Generation < kills {
		t.Fatalf("generation %d after %d rounds of forced rotation", st.Generation, kills)
	}
}

// TestCloneDetected: two copies of one state file. A proves a new
// generation; B, still at the old one, is refused as a clone, the client is
// locked (the honest copy too) and the server log says so, with role, client
// and generation and without any entropy. An operator unlock lets A in.
func TestCloneDetected(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", nil)
	a := e.enrollToState(t, entropyMount, "web", "twin")
	b := copyState(t, a)
	original, err := client.LoadState(a)
	must(t, err)

	// A rotates: the first login is handed generation 2, the second
	// proves it and makes generation 1 superseded.
	e.write(t, entropyMount+"/role/web/client/twin/rotate", nil)
	for range 2 {
		if _, err := e.login(t, a); err != nil {
			t.Fatal(err)
		}
	}
	stA, rec := e.agree(t, a, "web", "twin")
	if stA.Generation != 2 || rec.Superseded != 1 {
		t.Fatalf("A at generation %d, superseded %d: want 2 and 1", stA.Generation, rec.Superseded)
	}

	// B proves generation 1, which verifies, issued a second or more
	// after A's promotion (earlier it would be stale, docs/protocol.md
	// §14.3): a clone.
	time.Sleep(1100 * time.Millisecond)
	path, data := freshLoginData(t, b)
	e.mustRefuse(t, path, data)
	rec = e.clientRecord(t, "web", "twin")
	if !rec.Locked || !strings.Contains(strings.ToLower(rec.LockReason), "clone") {
		t.Fatalf("after a clone: locked=%v lock_reason=%q", rec.Locked, rec.LockReason)
	}
	lines := e.logLines(t, "clone detected", "client_id=twin")
	if len(lines) != 1 {
		t.Fatalf("%d clone lines in the server log, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for k, v := range map[string]string{"role": "web", "client_id": "twin", "generation": "1"} {
		if !hasLogField(lines[0], k, v) {
			t.Errorf("clone line lacks %s=%s: %s", k, v, lines[0])
		}
	}
	if !strings.Contains(lines[0], "[ERROR]") {
		t.Errorf("clone line is not at ERROR level: %s", lines[0])
	}
	log := e.Log(t)
	assertNoSecret(t, log, "the server log", "generation 1's entropy", original.Entropy)
	assertNoSecret(t, log, "the server log", "generation 2's entropy", stA.Entropy)

	// The lock holds for the honest copy too: the server cannot tell
	// which one is honest.
	if _, err := e.login(t, a); !errors.Is(err, client.ErrLoginRefused) {
		t.Fatalf("login of a locked client: %v", err)
	}
	e.write(t, entropyMount+"/role/web/client/twin/unlock", nil)
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("A after unlock: %v", err)
	}
	e.mustNotBeLocked(t, "web", "twin")
}

// TestOfflineThroughKeyRotations: a client whose state holds the key
// before one rotation logs in (the key is in its grace period) and its state
// then holds the new keys; a key stays accepted through two rotations, for
// as long as its grace period; a client offline past that is told its key
// is no longer accepted (400, named), and the CLI fetches the keys and
// retries by itself.
func TestOfflineThroughKeyRotations(t *testing.T) {
	e := newEnv(t, "entropy")
	s := e.write(t, entropyMount+"/config", map[string]interface{}{"key_grace_period": "24h"})
	mustNotIgnore(t, s, entropyMount+"/config")
	conf, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/config")
	must(t, err)
	if conf == nil || conf.Data["key_grace_period"] == nil {
		t.Fatalf("config read lacks key_grace_period: %v", conf)
	}
	e.lifecycleRole(t, "web", nil)
	roamer := e.enrollToState(t, entropyMount, "web", "roamer")
	sleeper := e.enrollToState(t, entropyMount, "web", "sleeper")
	k1 := e.currentKeyID(t)

	t.Run("one rotation", func(t *testing.T) {
		e.write(t, entropyMount+"/keys/rotate", nil)
		k2 := e.currentKeyID(t)
		if k2 == k1 {
			t.Fatal("keys/rotate kept the current key")
		}
		// The retired key is accepted for the grace period, and says
		// until when.
		for _, k := range e.keys(t) {
			if k["key_id"] == k1 {
				if until, _ := k["accepted_until"].(string); until == "" {
					t.Errorf("retired key %s has no accepted_until: %v", k1, k)
				}
			}
		}
		if _, err := e.login(t, roamer); err != nil {
			t.Fatalf("login sealed to the previous key: %v", err)
		}
		if got := stateCurrentKey(t, roamer); got != k2 {
			t.Fatalf("state's current key after the login: %s, want %s", got, k2)
		}
		// The new key is the one used from now on.
		if _, err := e.login(t, roamer); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("two rotations", func(t *testing.T) {
		e.write(t, entropyMount+"/keys/rotate", nil)
		k3 := e.currentKeyID(t)
		if stateCurrentKey(t, sleeper) != k1 {
			t.Fatal("the sleeper's state changed while it was offline")
		}
		// Two rotations later the first key is still in its grace period,
		// listed and accepted (a raw login: the sleeper's state stays).
		listed := false
		for _, k := range e.keys(t) {
			listed = listed || k["key_id"] == k1
		}
		if !listed {
			t.Fatalf("key %s, in its grace period, not listed after two rotations", k1)
		}
		path, data := freshLoginData(t, sleeper)
		if _, err := e.Client.Logical().WriteWithContext(t.Context(), path, data); err != nil {
			t.Fatalf("proof sealed to a key in its grace period, two rotations later: %v", err)
		}
		// The roamer is one rotation behind again: the CLI takes the
		// grace path.
		if _, err := e.runCLI(t, "", "login", "-state="+roamer); err != nil {
			t.Fatalf("CLI login one rotation behind: %v", err)
		}
		if got := stateCurrentKey(t, roamer); got != k3 {
			t.Fatalf("roamer's current key: %s, want %s", got, k3)
		}

		// Past its grace period (shortened to a second) the key is refused
		// with the named refusal an honest client acts on.
		e.write(t, entropyMount+"/config", map[string]interface{}{"key_grace_period": "1s"})
		time.Sleep(2 * time.Second)
		path, data = freshLoginData(t, sleeper)
		re := e.rawLoginError(t, path, data)
		if re.StatusCode != http.StatusBadRequest || !strings.Contains(strings.Join(re.Errors, " "), protocol.ErrKeyNotAccepted.Error()) {
			t.Fatalf("proof sealed to a dropped key: %d %v", re.StatusCode, re.Errors)
		}
		out, err := e.runCLI(t, "", "login", "-state="+sleeper)
		if err != nil {
			t.Fatalf("CLI login after two key rotations: %v", err)
		}
		if _, err := e.TokenClient(t, strings.TrimSpace(out)).Auth().Token().LookupSelfWithContext(t.Context()); err != nil {
			t.Fatalf("the CLI's token: %v", err)
		}
		if got := stateCurrentKey(t, sleeper); got != k3 {
			t.Fatalf("sleeper's current key after the CLI login: %s, want %s", got, k3)
		}
	})
	for _, id := range []string{"roamer", "sleeper"} {
		e.mustNotBeLocked(t, "web", id)
	}
}

// TestLockoutAndRevocation: failed proofs lock their source out of the
// client (here the honest holder's too: the test sends all from 127.0.0.1;
// testing/adversarial shows another source unaffected), not the client: its
// tokens keep renewing. An operator's unlock clears the count. The
// documented revocation by accessor ends the client's tokens and no one
// else's, and a deleted client's tokens do not renew.
func TestLockoutAndRevocation(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", map[string]interface{}{
		"lockout_threshold": 3, "lockout_duration": "1h", "lockout_counter_reset": "1h",
		"token_ttl": "10m", "token_max_ttl": "1h",
	})
	honest := e.enrollToState(t, entropyMount, "web", "honest")
	bystanderState := e.enrollToState(t, entropyMount, "web", "bystander")

	before, err := e.login(t, honest)
	must(t, err)
	early := noRetry(e.TokenClient(t, before.Auth.ClientToken))
	if _, err := early.Auth().Token().RenewSelfWithContext(t.Context(), 600); err != nil {
		t.Fatalf("renewal before the lock: %v", err)
	}

	// Someone holding a damaged copy of the entropy.
	st, err := client.LoadState(honest)
	must(t, err)
	for i := range st.Entropy {
		st.Entropy[i] ^= 0x5a
	}
	forged := filepath.Join(t.TempDir(), "forged.json")
	must(t, st.Save(forged))
	for i := range 3 {
		path, data := freshLoginData(t, forged)
		e.mustRefuse(t, path, data)
		if rec := e.clientRecord(t, "web", "honest"); i < 2 && rec.LockedSources != 0 {
			t.Fatalf("source locked after %d failed proofs, threshold 3", i+1)
		}
	}
	rec := e.clientRecord(t, "web", "honest")
	if rec.Locked || rec.FailedLogins != 3 || rec.LockedSources != 1 {
		t.Fatalf("after 3 failed proofs: locked=%v failed_logins=%d locked_sources=%d, want false, 3, 1",
			rec.Locked, rec.FailedLogins, rec.LockedSources)
	}
	path, data := freshLoginData(t, honest)
	e.mustRefuse(t, path, data) // from the locked source
	if _, err := early.Auth().Token().RenewSelfWithContext(t.Context(), 600); err != nil {
		t.Fatalf("a token of a client with a locked-out source did not renew: %v", err)
	}
	// Another client of the role is not affected.
	if _, err := e.login(t, bystanderState); err != nil {
		t.Fatalf("another client during the lock: %v", err)
	}

	e.write(t, entropyMount+"/role/web/client/honest/unlock", nil)
	e.mustNotBeLocked(t, "web", "honest")
	after, err := e.login(t, honest)
	if err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	bystander, err := e.login(t, bystanderState)
	must(t, err)

	t.Run("revoke the client's tokens by accessor", func(t *testing.T) {
		revoked := e.revokeClientTokens(t, "web", "honest")
		if revoked < 2 {
			t.Fatalf("revoked %d tokens of the client, want at least 2", revoked)
		}
		for _, tok := range []string{before.Auth.ClientToken, after.Auth.ClientToken} {
			if _, err := e.TokenClient(t, tok).Auth().Token().LookupSelfWithContext(t.Context()); !isForbidden(err) {
				t.Fatalf("a revoked token still works: %v", err)
			}
		}
		if _, err := e.TokenClient(t, bystander.Auth.ClientToken).Auth().Token().LookupSelfWithContext(t.Context()); err != nil {
			t.Fatalf("another client's token was revoked: %v", err)
		}
	})

	t.Run("a locked or deleted client's token does not renew: 403", func(t *testing.T) {
		tc := noRetry(e.TokenClient(t, bystander.Auth.ClientToken))
		if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); err != nil {
			t.Fatalf("renewal before lock: %v", err)
		}
		// A refusal, not a fault: permission denied, not a 500.
		e.write(t, entropyMount+"/role/web/client/bystander/lock", map[string]interface{}{"reason": "test"})
		if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); !isForbidden(err) {
			t.Fatalf("renewal of a locked client's token: %v, want 403", err)
		}
		e.write(t, entropyMount+"/role/web/client/bystander/unlock", nil)
		if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); err != nil {
			t.Fatalf("renewal after unlock: %v", err)
		}
		if _, err := e.Client.Logical().DeleteWithContext(t.Context(), entropyMount+"/role/web/client/bystander"); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.Auth().Token().RenewSelfWithContext(t.Context(), 600); !isForbidden(err) {
			t.Fatalf("renewal of a deleted client's token: %v, want 403", err)
		}
	})
}

// TestUnknownClientsAndBoundedStorage reads the mount's storage through
// sys/raw (enabled for this server only): garbage logins for client ids that
// do not exist change nothing in it, and a client rotating again and again
// keeps at most three generations of entropy.
func TestUnknownClientsAndBoundedStorage(t *testing.T) {
	e := newRawEnv(t, "entropy")
	e.lifecycleRole(t, "web", nil)
	realState := e.enrollToState(t, entropyMount, "web", "real")

	t.Run("unknown clients write nothing", func(t *testing.T) {
		e.quiesce(t)
		clientsBefore := e.clientIDs(t, "web")
		before := e.MountStorage(t, "entropy")
		if len(before) == 0 {
			t.Fatal("nothing in the mount's storage")
		}
		st, err := client.LoadState(realState)
		must(t, err)
		pk, err := st.ServerKeys[0].Parse()
		must(t, err)
		entropy := make([]byte, len(st.Entropy))
		for i := range 50 {
			role, id := "web", fmt.Sprintf("ghost-%d", i)
			if i%5 == 4 {
				role = "nosuchrole" // an unknown role is an unknown client too
			}
			for j := range entropy {
				entropy[j] = byte(rand.Uint32())
			}
			// A well-formed proof, sealed to the real server key, so
			// that the server opens it and gets as far as the lookup.
			proof, _, err := protocol.NewProof(protocol.ProofInput{
				ServerKey: pk, Role: role, ClientID: id, Generation: 1, Entropy: entropy,
				Sampling: protocol.Sampling{Count: st.SampleCount, Length: st.SampleLength}, IssuedAt: time.Now(),
			})
			must(t, err)
			e.mustRefuse(t, entropyMount+"/login", map[string]interface{}{"role": role, "client_id": id, "proof": proof})
		}
		if added, removed, changed := harness.StorageDiff(before, e.MountStorage(t, "entropy")); len(added)+len(removed)+len(changed) > 0 {
			t.Fatalf("50 logins of unknown clients changed the mount's storage: added %v, removed %v, changed %v", added, removed, changed)
		}
		if got := e.clientIDs(t, "web"); !slices.Equal(got, clientsBefore) {
			t.Fatalf("client list %v, was %v", got, clientsBefore)
		}
	})

	t.Run("entropy stays bounded across rotations", func(t *testing.T) {
		for i := range 30 {
			e.write(t, entropyMount+"/role/web/client/real/rotate", nil)
			if _, err := e.login(t, realState); err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
		}
		st, rec := e.agree(t, realState, "web", "real")
		stored := e.ReadStoredClient(t, "entropy", "web", "real")
		t.Logf("after 30 rotating logins: generation %d, pending %d; stored: %+v", st.Generation, rec.Pending, stored)
		if st.Generation < 10 {
			t.Fatalf("generation %d after 30 logins with forced rotation", st.Generation)
		}
		// Current, pending and superseded at most, in the client's one
		// entry; exactly those, and no entropy entry apart.
		if !stored.OneEntry() || stored.Generation != rec.Generation || stored.PendingGeneration != rec.Pending ||
			stored.SupersededGeneration != rec.Superseded || stored.SupersededEntropySize == 0 {
			t.Fatalf("stored client %+v, want the one-entry form holding generations %d (superseded), %d (current), %d (pending)",
				stored, rec.Superseded, rec.Generation, rec.Pending)
		}
	})
}

// TestTidy: tidy deletes an expired client (and its entropy) and nothing
// that a live client needs: one with a current, a pending and a superseded
// generation logs in through all of them afterwards.
func TestTidy(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "short", map[string]interface{}{"client_ttl": "1s"})
	e.lifecycleRole(t, "web", nil)
	e.enrollToState(t, entropyMount, "short", "brief")
	keeper := e.enrollToState(t, entropyMount, "web", "keeper")

	// keeper: superseded 1, current 2, pending 3.
	for _, step := range []string{"rotate", "login", "login", "rotate", "login"} {
		if step == "rotate" {
			e.write(t, entropyMount+"/role/web/client/keeper/rotate", nil)
		} else if _, err := e.login(t, keeper); err != nil {
			t.Fatal(err)
		}
	}
	if _, rec := e.agree(t, keeper, "web", "keeper"); rec.Superseded != 1 || rec.Generation != 2 || rec.Pending != 3 {
		t.Fatalf("keeper: superseded %d, generation %d, pending %d; want 1, 2, 3", rec.Superseded, rec.Generation, rec.Pending)
	}

	time.Sleep(1500 * time.Millisecond)
	rec, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/role/short/client/brief")
	must(t, err)
	if rec == nil || rec.Data["expired"] != true || !slices.Contains(e.clientIDs(t, "short"), "brief") {
		t.Fatalf("before tidy the expired client should still be there: %v", rec)
	}
	status := e.tidy(t)
	if s, _ := status["error"].(string); s != "" {
		t.Fatalf("tidy failed: %s", s)
	}
	for _, field := range []string{"entropy_deleted", "clients_deleted"} {
		if _, ok := asUint(status[field]); !ok {
			t.Fatalf("tidy/status lacks %s: %v", field, status)
		}
	}
	if n, _ := asUint(status["clients_deleted"]); n < 1 {
		t.Fatalf("tidy deleted %d clients, want the expired one: %v", n, status)
	}
	if ids := e.clientIDs(t, "short"); slices.Contains(ids, "brief") {
		t.Fatalf("the expired client is still listed after tidy: %v", ids)
	}
	if rec, err := e.Client.Logical().ReadWithContext(t.Context(), entropyMount+"/role/short/client/brief"); err != nil || rec != nil {
		t.Fatalf("the expired client can still be read after tidy: %v %v", rec, err)
	}
	// keeper proves its pending generation (3), then its current one.
	for i := range 2 {
		if _, err := e.login(t, keeper); err != nil {
			t.Fatalf("keeper login %d after tidy: %v", i, err)
		}
	}
	if st, _ := e.agree(t, keeper, "web", "keeper"); st.Generation != 3 {
		t.Fatalf("keeper at generation %d after tidy, want 3", st.Generation)
	}
}

// TestChallengeMode: a role switched to challenge mode. A client enrolled
// before the switch learns it from its first login's named refusal and
// retries in challenge mode, all inside one library login; a client enrolled
// after it starts in challenge mode. A proof without a challenge is refused
// with the named 400, but only once it has verified.
func TestChallengeMode(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", nil)
	learner := e.enrollToState(t, entropyMount, "web", "learner")
	if _, err := e.login(t, learner); err != nil {
		t.Fatal(err)
	}
	e.lifecycleRole(t, "web", map[string]interface{}{"challenge_required": true})

	refusals := func(id string) int {
		return len(e.logLines(t, "login refused", "client_id="+id, protocol.ErrChallengeRequired.Error()))
	}
	if _, err := e.login(t, learner); err != nil {
		t.Fatalf("first login after the switch: %v", err)
	}
	st, err := client.LoadState(learner)
	must(t, err)
	if !st.ChallengeRequired {
		t.Fatal("the state does not record challenge mode")
	}
	if n := refusals("learner"); n != 1 {
		t.Fatalf("%d challenge-required refusals logged for the first login, want 1", n)
	}
	if _, err := e.login(t, learner); err != nil {
		t.Fatal(err)
	}
	if n := refusals("learner"); n != 1 {
		t.Fatalf("the second login was refused first too (%d refusals)", n)
	}

	native := e.enrollToState(t, entropyMount, "web", "native")
	if st, err := client.LoadState(native); err != nil || !st.ChallengeRequired {
		t.Fatalf("a client enrolled in challenge mode does not know it: %v %v", st, err)
	}
	if _, err := e.login(t, native); err != nil {
		t.Fatal(err)
	}
	if n := refusals("native"); n != 0 {
		t.Fatalf("a client enrolled in challenge mode was refused %d times", n)
	}

	// Neither the named refusals nor the retries counted as failed proofs.
	e.mustNotBeLocked(t, "web", "learner")

	// Built by hand: the library would fetch a challenge.
	re := e.rawLoginError(t, entropyMount+"/login", proofAt(t, learner, time.Now()))
	if re.StatusCode != http.StatusBadRequest || !strings.Contains(strings.Join(re.Errors, " "), protocol.ErrChallengeRequired.Error()) {
		t.Fatalf("a proof without challenge: %d %v", re.StatusCode, re.Errors)
	}
	// Without the entropy the refusal is the generic one: the named one
	// would tell a thief that its proof was otherwise good.
	forged := copyState(t, learner)
	fs, err := client.LoadState(forged)
	must(t, err)
	for i := range fs.Entropy {
		fs.Entropy[i] ^= 0xa5
	}
	must(t, fs.Save(forged))
	if _, status := e.rawLogin(t, entropyMount+"/login", proofAt(t, forged, time.Now())); status != http.StatusForbidden {
		t.Fatalf("a forged proof without challenge: status %d, want 403", status)
	}
	if rec := e.clientRecord(t, "web", "learner"); rec.FailedLogins != 1 || rec.Locked {
		t.Fatalf("after one forged proof: failed_logins=%d locked=%v, want 1 and false", rec.FailedLogins, rec.Locked)
	}
}

// TestReceiptAndLoginID: the login response carries a sealed receipt and
// the token's metadata the login_id it confirms. A login through `vault
// write` prints the receipt, which opens only with the proof's session and
// does not show the entropy it carries.
func TestReceiptAndLoginID(t *testing.T) {
	e := newEnv(t, "entropy")
	e.lifecycleRole(t, "web", nil)
	state := e.enrollToState(t, entropyMount, "web", "witness")
	loginID := regexp.MustCompile(`^[0-9a-f]{32}$`)

	secret, err := e.login(t, state)
	must(t, err)
	id := secret.Auth.Metadata["login_id"]
	if !loginID.MatchString(id) {
		t.Fatalf("login_id %q", id)
	}
	if r, _ := secret.Data["receipt"].(string); r == "" {
		t.Fatalf("no data.receipt in the login response: %v", secret.Data)
	}
	self, err := e.TokenClient(t, secret.Auth.ClientToken).Auth().Token().LookupSelfWithContext(t.Context())
	must(t, err)
	if meta, _ := self.TokenMetadata(); meta["login_id"] != id {
		t.Fatalf("token metadata %v, login_id %s", meta, id)
	}

	// Rotation of the whole role, so that the receipt carries entropy.
	e.write(t, entropyMount+"/role/web/rotate", nil)
	auth, err := client.NewEntropyAuth(client.WithStateFile(state))
	must(t, err)
	lr, session, err := auth.NewLoginRequest(t.Context(), nil)
	must(t, err)
	out, err := e.Vault(t, nil, "write", "-format=json", lr.Path, "role="+lr.Role, "client_id="+lr.ClientID, "proof="+lr.Proof)
	if err != nil {
		t.Fatalf("vault write login: %v", err)
	}
	var printed api.Secret
	if err := json.Unmarshal([]byte(out), &printed); err != nil || printed.Auth == nil {
		t.Fatalf("vault write -format=json: %v %s", err, out)
	}
	sealed, _ := printed.Data["receipt"].(string)
	if sealed == "" {
		t.Fatalf("vault write prints no receipt: %s", out)
	}
	receipt, err := session.OpenReceipt(sealed)
	if err != nil {
		t.Fatalf("the printed receipt does not open with the proof's session: %v", err)
	}
	if receipt.LoginID != printed.Auth.Metadata["login_id"] || receipt.LoginID != session.LoginID() {
		t.Fatalf("receipt login_id %s, token %s, session %s", receipt.LoginID, printed.Auth.Metadata["login_id"], session.LoginID())
	}
	if receipt.Rotation == nil || receipt.Rotation.Generation != 2 {
		t.Fatalf("after role/web/rotate the receipt carries no generation 2: %+v", receipt.Rotation)
	}
	assertNoSecret(t, out, "vault write's output", "the new generation's entropy", receipt.Rotation.Entropy)
	assertNoSecret(t, e.Log(t), "the server log", "the new generation's entropy", receipt.Rotation.Entropy)

	// The table output too names the receipt (another fresh proof).
	_, data := freshLoginData(t, state)
	table, err := e.Vault(t, nil, "write", entropyMount+"/login", "role=web", "client_id=witness", "proof="+data["proof"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^receipt\s+\S{40,}`).MatchString(table) {
		t.Fatalf("vault write's table output has no receipt:\n%s", table)
	}
	// The state was not saved by those raw logins; the library's next
	// login is handed the same pending generation and carries on.
	if _, err := e.login(t, state); err != nil {
		t.Fatal(err)
	}
	if _, err := e.login(t, state); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.agree(t, state, "web", "witness"); st.Generation != 2 {
		t.Fatalf("generation %d, want 2", st.Generation)
	}
}
