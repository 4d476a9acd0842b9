package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// `vault-entropy agent` keeps a file fresh for a program that cannot log in
// with entropy itself: a token (token mode, -sink) or a single-use proof
// for Vault Agent's jwt auto-auth method (proof mode, -proof-file). See
// docs/vault-agent.md. Its flags and their checks are in agent_config.go,
// the two modes in agent_token.go and agent_proof.go.

const agentHelp = `Usage: vault-entropy agent [-state=PATH] [-mount=auth/entropy] (-sink=PATH | -proof-file=PATH) [options]

Runs until SIGINT or SIGTERM (then exits 0 and leaves the file in place),
keeping one file fresh for a program that cannot log in with entropy itself.
Give exactly one of:

  -sink=PATH        Token mode, for Vault Agent's token_file auto-auth method,
                    Terraform's auth_login_token_file or any program that reads
                    a token file. Logs in, writes the token to PATH (0600, no
                    newline) and renews it; once it can no longer be extended
                    (its max TTL is near) or renewing fails, logs in again and
                    rewrites PATH before the old token expires. The old token
                    is not revoked: whoever read it may still be using it.
                    Every -rotation-check it also logs in once, only to take up
                    entropy rotations and new server keys, and revokes that
                    token at once.

  -proof-file=PATH  Proof mode, for Vault Agent's jwt auto-auth method with
                    mount_path = "auth/entropy" (and, in Vault Agent's
                    auto_auth, enable_reauth_on_new_credentials = true).
                    Every -proof-every it logs in once to take up rotations
                    (that token is revoked at once), then writes a fresh
                    single-use proof to PATH, which Vault Agent reads, deletes
                    and logs in with. A proof still unread after -proof-max-age
                    is replaced. -proof-every must be shorter than the role's
                    token_max_ttl.

While Vault cannot be reached or refuses, it retries with exponential backoff
and jitter, from 1s up to -max-backoff, logging each failure. It logs one
line per event to stderr, never a token or a proof. See docs/vault-agent.md.

`

// agentCommand is `vault-entropy agent`.
type agentCommand struct {
	*baseCommand
	cfg agentConfig
}

func (c *agentCommand) help() string { return agentHelp }

func (c *agentCommand) defineFlags() {
	f := c.flagSet(flagSetMount)
	f.StringVar(&c.cfg.sink, "sink", "", "token mode: the file to keep a token in")
	f.StringVar(&c.cfg.proofFile, "proof-file", "", "proof mode: the file to keep a proof in, Vault Agent's jwt method's path")
	f.DurationVar(&c.cfg.rotationCheck, "rotation-check", defaultRotationCheck, "token mode: how often to log in only to take up rotations")
	f.DurationVar(&c.cfg.proofEvery, "proof-every", defaultProofEvery, "proof mode: how often to log in and write a fresh proof (at least 10s)")
	f.DurationVar(&c.cfg.proofMaxAge, "proof-max-age", defaultProofMaxAge, "proof mode: replace an unread proof this old (half the mount's allowed_clock_skew)")
	f.DurationVar(&c.cfg.maxBackoff, "max-backoff", defaultMaxBackoff, "longest delay between retries while Vault cannot be reached or refuses")
}

func (c *agentCommand) run(ctx context.Context) error {
	c.cfg.statePath = c.flagState
	given := map[string]bool{}
	c.flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := c.cfg.validate(func(name string) bool { return given[name] }); err != nil {
		return c.usageErrorf("Error: %s\nRun \"vault-entropy agent -h\" for its options.", err)
	}
	// A missing or unreadable state file will not fix itself: say so now
	// rather than retry forever.
	if _, err := client.LoadState(c.cfg.statePath); err != nil {
		return err
	}
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	// The agent's own tokens are the only ones it uses.
	vc.ClearToken()
	a := &agent{cfg: c.cfg, auth: auth, vault: vc, log: c.stderr}
	return a.run(ctx)
}

// agent is one run of `vault-entropy agent`.
type agent struct {
	cfg   agentConfig
	auth  *client.EntropyAuth
	vault *api.Client // without a token; each use clones it

	logMu sync.Mutex
	log   io.Writer
}

// run runs the agent's mode until ctx is done; it returns nil then.
func (a *agent) run(ctx context.Context) error {
	if a.cfg.sink != "" {
		a.logf("token mode: state %s, sink %s, rotation check every %s", a.cfg.statePath, a.cfg.sink, a.cfg.rotationCheck)
		a.runToken(ctx)
		a.logf("stopping; %s is left as it is", a.cfg.sink)
		return nil
	}
	a.logf("proof mode: state %s, proof file %s, a proof every %s, an unread one replaced after %s",
		a.cfg.statePath, a.cfg.proofFile, a.cfg.proofEvery, a.cfg.proofMaxAge)
	a.runProof(ctx)
	a.logf("stopping; %s is left as it is", a.cfg.proofFile)
	return nil
}

// logf writes one log line: a UTC timestamp and the event. Callers never
// pass a token or a proof.
func (a *agent) logf(format string, args ...interface{}) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	// Arguments may come from Vault (accessors, metadata, its error text):
	// the line is made safe for a terminal and stays one line.
	fmt.Fprintf(a.log, "%s %s\n", time.Now().UTC().Format(time.RFC3339), client.SanitizeText(fmt.Sprintf(format, args...)))
}

// login logs in through the library, which checks the receipt and stores
// what it brings (a rotation, new keys) under the state's lock.
func (a *agent) login(ctx context.Context) (*api.Secret, error) {
	c, err := a.vault.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	return c.Auth().Login(ctx, a.auth)
}

// revoke revokes token with its own revoke-self.
func (a *agent) revoke(ctx context.Context, token string) error {
	c, err := a.vault.CloneWithHeaders()
	if err != nil {
		return err
	}
	c.SetToken(token)
	return c.Auth().Token().RevokeSelfWithContext(ctx, "")
}

// rotationLogin is a login whose only purpose is its receipt (a rotation,
// new server keys, which the library stores); its token is revoked at once.
func (a *agent) rotationLogin(ctx context.Context, what string) error {
	secret, err := a.login(ctx)
	if err != nil {
		return err
	}
	outcome := "token revoked"
	if err := a.revoke(ctx, secret.Auth.ClientToken); err != nil {
		outcome = fmt.Sprintf("revoking its token failed, it expires with its TTL: %s", describe(err))
	}
	a.logf("%s: logged in (accessor %s, generation %s, %s); %s", what, secret.Auth.Accessor,
		secret.Auth.Metadata["generation"], a.stateGenerations(), outcome)
	return nil
}

// stateGenerations describes the generations the state file holds, for the
// log: the one a proof would prove is the pending one if there is one.
func (a *agent) stateGenerations() string {
	s, err := client.LoadState(a.cfg.statePath)
	if err != nil {
		return "state unreadable"
	}
	if s.Pending != nil {
		return fmt.Sprintf("state at generation %d, pending %d", s.Generation, s.Pending.Generation)
	}
	return fmt.Sprintf("state at generation %d", s.Generation)
}

// describe is an error as a log line shows it: a network failure as its
// root cause, anything else as it is, on one line (vault/api's errors span
// several). Errors carry neither tokens nor proofs.
func describe(err error) string {
	if unreachable(err) {
		return fmt.Sprintf("cannot reach Vault: %s", rootCause(err))
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// backoff is exponential backoff with jitter: the n-th delay after a
// success is minBackoff·2^(n-1), jittered by a factor in [0.8, 1.2) and
// clamped to [minBackoff, max]. The jitter keeps many agents restarted
// together from retrying together; since the factor's range is narrower
// than the doubling, successive delays grow until they reach max.
type backoff struct {
	max  time.Duration
	base time.Duration // the next delay before jitter; 0 after a reset
	// jitter returns a number in [0, 1).
	jitter func() float64
}

func newBackoff(max time.Duration) *backoff { return &backoff{max: max, jitter: jitter} }

func (b *backoff) next() time.Duration {
	if b.base == 0 {
		b.base = minBackoff
	}
	d := time.Duration(float64(b.base) * (0.8 + 0.4*b.jitter()))
	if b.base < b.max {
		b.base *= 2
	}
	return min(max(d, minBackoff), b.max)
}

func (b *backoff) reset() { b.base = 0 }

// jitter is a uniform number in [0, 1) from crypto/rand.
func jitter() float64 {
	var b [8]byte
	crand.Read(b[:])
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// sleep waits d, or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
