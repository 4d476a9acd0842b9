package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// Proof mode feeds Vault Agent's jwt auto-auth method. That method reads
// its file at each authentication and, once it has logged in, every 500 ms;
// it deletes the file after reading it, and new content makes it log in
// again at once (with enable_reauth_on_new_credentials). So every proof
// written here is one Vault Agent login, and nothing is written between
// cycles except to replace a proof nobody has read that is getting old.
//
// Each cycle first logs in through the library, only to take up a rotation
// or new server keys (the token is revoked at once), then writes a proof of
// the generation the state now proves: the pending one, learned by that
// login. The library's own next login, a cycle later, promotes it; by then
// Vault Agent has used the proofs of the generation before, or they have
// been replaced, so no proof of a superseded generation is ever left to
// send, which Vault would take for a clone. A proof sent twice (Vault Agent
// resends its last proof when the file is gone) is refused as a replay.

// proofStep is what the proof loop does next.
type proofStep int

const (
	proofWait    proofStep = iota // nothing due: sleep until the time returned
	proofCycle                    // log in to take up rotations, then write a fresh proof
	proofReplace                  // write a fresh proof over the unread old one, no login
)

func (s proofStep) String() string { return [...]string{"wait", "cycle", "replace"}[s] }

// nextProofStep decides the proof loop's step at now. cycleAt is when the
// next cycle is due; written is when the last proof was written (zero: none
// yet) and unread whether the file is still there, so nobody has read it; a
// proof that old is replaced once it is maxAge old. When nothing is due it
// returns proofWait and the time something next can be: the loop looks at
// the file again only then, since only its age makes it matter.
func nextProofStep(now, cycleAt, written time.Time, unread bool, maxAge time.Duration) (proofStep, time.Time) {
	if !now.Before(cycleAt) {
		return proofCycle, now
	}
	wake := cycleAt
	if unread && !written.IsZero() {
		stale := written.Add(maxAge)
		if !now.Before(stale) {
			return proofReplace, now
		}
		if stale.Before(wake) {
			wake = stale
		}
	}
	return proofWait, wake
}

// runProof runs proof mode until ctx is done. A failed step is retried
// after a backoff delay; the first cycle runs at once.
func (a *agent) runProof(ctx context.Context) {
	bo := newRetryBackoff(a.cfg.maxBackoff)
	cycleAt := time.Now()
	var written time.Time
	for ctx.Err() == nil {
		now := time.Now()
		step, at := nextProofStep(now, cycleAt, written, a.proofUnread(), a.cfg.proofMaxAge)
		// wait is the delay before the next step: until the time
		// nextProofStep names, a backoff delay after a failure.
		var wait time.Duration
		var err error
		switch step {
		case proofWait:
			wait = at.Sub(now)
		case proofCycle:
			// A failed rotation login is only logged: the proof is made
			// from the state as it is, which Vault still accepts.
			if lerr := a.rotationLogin(ctx, "cycle"); lerr != nil && ctx.Err() == nil {
				a.log.Warn(fmt.Sprintf("cycle: login failed: %s; writing a proof from the state as it is", describe(lerr)))
			}
			var w time.Time
			if w, err = a.writeProof(ctx, "wrote"); err == nil {
				written, cycleAt = w, w.Add(a.cfg.proofEvery)
			}
		case proofReplace:
			var w time.Time
			if w, err = a.writeProof(ctx, "replaced the unread proof with"); err == nil {
				written = w
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = bo.next()
			a.log.Warn(fmt.Sprintf("%s failed: %s; retrying in %s", step, describe(err), round(wait)))
		case step != proofWait:
			bo.Reset()
		}
		// A stop ends the wait at once. (Since Go 1.23 the timer of a
		// time.After that has not fired is collected, so a loop may use it.)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// proofUnread reports whether the proof file is still there: Vault Agent
// deletes it once read.
func (a *agent) proofUnread() bool {
	_, err := os.Lstat(a.cfg.proofFile)
	return err == nil
}

// writeProof writes a fresh proof to the proof file and returns when it
// was made. The time is taken before the proof is, so the age measured from
// it is never less than the proof's.
func (a *agent) writeProof(ctx context.Context, what string) (time.Time, error) {
	at := time.Now()
	gens := a.stateGenerations()
	lr, _, err := a.auth.NewLoginRequest(ctx, a.vault)
	if err != nil {
		return time.Time{}, err
	}
	// No trailing newline: Vault Agent sends the file as it is (the
	// server would trim it, but a proof is exactly what it says).
	if err := client.WriteSecretFile(a.cfg.proofFile, []byte(lr.Proof)); err != nil {
		return time.Time{}, fmt.Errorf("writing %s: %w", a.cfg.proofFile, err)
	}
	a.log.Info(fmt.Sprintf("%s a fresh proof (%s; client %s of role %s) in %s", what, gens, lr.ClientID, lr.Role, a.cfg.proofFile))
	return at, nil
}
