package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/helper/backoff"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// `vault-entropy agent` keeps a file fresh for a program that cannot log in
// with entropy itself: a token (token mode, -sink) or a single-use proof
// for Vault Agent's jwt auto-auth method (proof mode, -proof-file). See
// docs/vault-agent.md. Its flags and their checks are in agent_config.go,
// the two modes in agent_token.go and agent_proof.go.

const agentHelp = `Usage: vault-entropy agent [-state=PATH [-read-only] | -state=- | -state-env=NAME] [-mount=auth/entropy] (-sink=PATH | -proof-file=PATH) [options]

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

With a read-only state (-state-env, -state=- or -read-only, as for login) every
login proves the state's current generation and nothing is stored; the agent
logs once what it could not keep.

`

// agentCommand is `vault-entropy agent`.
type agentCommand struct {
	*baseCommand
	cfg agentConfig
}

func (c *agentCommand) help() string { return agentHelp }

func (c *agentCommand) defineFlags() {
	f := c.flagSet(flagSetMount | flagSetReadOnly)
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
	// The library's notes (what a read-only state cannot keep) go to the
	// agent's log.
	c.logger = newAgentLogger(c.stderr)
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	// A missing or unreadable state file will not fix itself: say so now
	// rather than retry forever.
	if _, err := auth.ReadState(); err != nil {
		return err
	}
	// The agent's own tokens are the only ones it uses.
	vc.ClearToken()
	a := &agent{cfg: c.cfg, auth: auth, vault: vc, log: c.logger}
	return a.run(ctx)
}

// agent is one run of `vault-entropy agent`.
type agent struct {
	cfg   agentConfig
	auth  *client.EntropyAuth
	vault *api.Client // without a token; each use clones it
	// log gets one line per event; callers never pass a token or a proof.
	log hclog.Logger
}

// newAgentLogger is the agent's log on w (its stderr): one hclog line per
// event, with a UTC timestamp and a level (INFO, WARN for a failure).
// Messages carry text from Vault (accessors, metadata, its error text),
// so each line is written through logLine.
func newAgentLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "agent",
		Level:  hclog.Info,
		Output: logLine{w},
		TimeFn: func() time.Time { return time.Now().UTC() },
	})
}

// logLine writes each log entry as one line made safe for a terminal
// (client.SanitizeText): no escape sequence, and no line break that would
// let Vault's words pose as a line of their own. hclog hands over each
// entry in one Write, ending in its newline.
type logLine struct{ w io.Writer }

func (l logLine) Write(p []byte) (int, error) {
	entry := strings.TrimSuffix(string(p), "\n")
	if _, err := io.WriteString(l.w, client.SanitizeText(entry)+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}

// run runs the agent's mode until ctx is done; it returns nil then.
func (a *agent) run(ctx context.Context) error {
	if a.cfg.sink != "" {
		a.log.Info(fmt.Sprintf("token mode: state %s, sink %s, rotation check every %s", a.stateSource(), a.cfg.sink, a.cfg.rotationCheck))
		a.runToken(ctx)
		a.log.Info(fmt.Sprintf("stopping; %s is left as it is", a.cfg.sink))
		return nil
	}
	a.log.Info(fmt.Sprintf("proof mode: state %s, proof file %s, a proof every %s, an unread one replaced after %s",
		a.stateSource(), a.cfg.proofFile, a.cfg.proofEvery, a.cfg.proofMaxAge))
	a.runProof(ctx)
	a.log.Info(fmt.Sprintf("stopping; %s is left as it is", a.cfg.proofFile))
	return nil
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
	level, outcome := hclog.Info, "token revoked"
	if err := a.revoke(ctx, secret.Auth.ClientToken); err != nil {
		level, outcome = hclog.Warn, fmt.Sprintf("revoking its token failed, it expires with its TTL: %s", describe(err))
	}
	a.log.Log(level, fmt.Sprintf("%s: logged in (accessor %s, generation %s, %s); %s", what, secret.Auth.Accessor,
		secret.Auth.Metadata["generation"], a.stateGenerations(), outcome))
	return nil
}

// stateSource names the state for the log: its file, or the read-only
// source it was read from.
func (a *agent) stateSource() string {
	if a.auth.ReadOnly() {
		return a.auth.StateSource() + " (read-only)"
	}
	return a.auth.StateSource()
}

// stateGenerations describes the generations the state file holds, for the
// log: the one a proof would prove is the pending one if there is one.
func (a *agent) stateGenerations() string {
	s, err := a.auth.ReadState()
	if err != nil {
		return "state unreadable"
	}
	if a.auth.ReadOnly() {
		// It proves its current generation, whatever it holds.
		return fmt.Sprintf("read-only state at generation %d", s.Generation)
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

// retryBackoff gives the delays between retries: the SDK's capped
// exponential backoff with jitter, without a limit on retries (the agent
// retries for as long as it runs). The SDK doubles each delay and takes up
// to a quarter off it, the first one included, so its base is a third above
// minBackoff: the first retry comes after 1 to 1.33 s, jittered, and agents
// restarted together do not retry together. The delays stay within
// [minBackoff, -max-backoff], as the agent's help says.
type retryBackoff struct {
	*backoff.Backoff
	max time.Duration
}

func newRetryBackoff(maxDelay time.Duration) *retryBackoff {
	return &retryBackoff{Backoff: backoff.NewBackoff(math.MaxInt, minBackoff*4/3, maxDelay), max: maxDelay}
}

// next is the delay before the next retry. With no limit on retries the
// SDK's Next never returns ErrMaxRetry.
func (r *retryBackoff) next() time.Duration {
	d, _ := r.Next()
	return min(max(d, minBackoff), r.max)
}

// round shortens a delay for the log.
func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
