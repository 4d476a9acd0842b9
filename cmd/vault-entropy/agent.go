package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// `vault-entropy agent` keeps a file fresh for a program that cannot log in
// with entropy itself: a token (token mode, -sink) or a single-use proof
// for Vault Agent's jwt auto-auth method (proof mode, -proof-file). See
// docs/vault-agent.md.

const (
	// minBackoff is the first delay after a failure; delays double up to
	// -max-backoff.
	minBackoff           = time.Second
	defaultMaxBackoff    = 5 * time.Minute
	defaultRotationCheck = 15 * time.Minute
	defaultProofEvery    = 15 * time.Minute
	// minProofEvery bounds the proof cycle: each cycle is a login here and
	// one in Vault Agent.
	minProofEvery = 10 * time.Second
	// defaultProofMaxAge is half the server's default allowed_clock_skew
	// (60s): an unread proof is replaced while it still has half its
	// validity left, so whoever reads it next gets a proof that passes.
	defaultProofMaxAge = 30 * time.Second
)

const agentUsage = `Usage: vault-entropy agent [-state=PATH] [-mount=auth/entropy] (-sink=PATH | -proof-file=PATH) [options]

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

// agentConfig is what the flags of `vault-entropy agent` set.
type agentConfig struct {
	statePath     string
	sink          string
	proofFile     string
	rotationCheck time.Duration
	proofEvery    time.Duration
	proofMaxAge   time.Duration
	maxBackoff    time.Duration
}

// validate checks the flags; set reports whether a flag was given. Its
// errors are usage errors.
func (c *agentConfig) validate(set func(name string) bool) error {
	switch {
	case c.sink == "" && c.proofFile == "":
		return errors.New("give -sink=PATH (token mode) or -proof-file=PATH (proof mode, for Vault Agent's jwt method)")
	case c.sink != "" && c.proofFile != "":
		return errors.New("give only one of -sink and -proof-file")
	}
	if c.sink != "" {
		for _, f := range []string{"proof-every", "proof-max-age"} {
			if set(f) {
				return fmt.Errorf("-%s applies only with -proof-file", f)
			}
		}
	} else if set("rotation-check") {
		return errors.New("-rotation-check applies only with -sink (with -proof-file every cycle logs in)")
	}
	switch {
	case c.rotationCheck < time.Second:
		return fmt.Errorf("-rotation-check must be at least 1s, not %s", c.rotationCheck)
	case c.proofEvery < minProofEvery:
		return fmt.Errorf("-proof-every must be at least %s, not %s", minProofEvery, c.proofEvery)
	case c.proofMaxAge < time.Second:
		return fmt.Errorf("-proof-max-age must be at least 1s, not %s", c.proofMaxAge)
	case c.maxBackoff < minBackoff:
		return fmt.Errorf("-max-backoff must be at least %s, not %s", minBackoff, c.maxBackoff)
	}
	return outputCollides(c.output(), c.statePath)
}

// outputCollides refuses an output file that is the state file, its lock
// file (<state>.lock) or one of the state's temporary files
// (.<state>.tmp-*), or whose own temporary files would be the state's or
// its lock's: each write of the output replaces the file by a rename and
// removes stale temporary files of its name (client.WriteSecretFile), which
// would overwrite the state or break its lock.
func outputCollides(output, statePath string) error {
	out, state := canonical(output), canonical(statePath)
	lock := state + ".lock"
	switch {
	case out == state:
		return fmt.Errorf("%s is the state file: the agent's output needs a file of its own", output)
	case out == lock:
		return fmt.Errorf("%s is the state's lock file: the agent's output needs a file of its own", output)
	}
	if filepath.Dir(out) != filepath.Dir(state) {
		return nil
	}
	if isTempOf(out, state) {
		return fmt.Errorf("%s is named as a temporary file of the state %s: the agent's output needs a file of its own", output, statePath)
	}
	if isTempOf(state, out) || isTempOf(lock, out) {
		return fmt.Errorf("the state %s is named as a temporary file of %s: give the agent's output another name", statePath, output)
	}
	return nil
}

// isTempOf reports whether path is named as a temporary file of other in
// the same directory (see client.WriteSecretFile).
func isTempOf(path, other string) bool {
	ok, _ := filepath.Match("."+filepath.Base(other)+".tmp-*", filepath.Base(path))
	return ok
}

// canonical is path made absolute, with the symbolic links in its directory
// resolved, so that two names of one file compare equal.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// output is the file the agent keeps fresh.
func (c *agentConfig) output() string {
	if c.sink != "" {
		return c.sink
	}
	return c.proofFile
}

func runAgent(ctx context.Context, e *cmdEnv, args []string) error {
	e.mountFlag()
	cfg := agentConfig{}
	e.flags.StringVar(&cfg.sink, "sink", "", "token mode: the file to keep a token in")
	e.flags.StringVar(&cfg.proofFile, "proof-file", "", "proof mode: the file to keep a proof in, Vault Agent's jwt method's path")
	e.flags.DurationVar(&cfg.rotationCheck, "rotation-check", defaultRotationCheck, "token mode: how often to log in only to take up rotations")
	e.flags.DurationVar(&cfg.proofEvery, "proof-every", defaultProofEvery, "proof mode: how often to log in and write a fresh proof (at least 10s)")
	e.flags.DurationVar(&cfg.proofMaxAge, "proof-max-age", defaultProofMaxAge, "proof mode: replace an unread proof this old (half the mount's allowed_clock_skew)")
	e.flags.DurationVar(&cfg.maxBackoff, "max-backoff", defaultMaxBackoff, "longest delay between retries while Vault cannot be reached or refuses")
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, agentUsage)
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	cfg.statePath = *e.statePath
	given := map[string]bool{}
	e.flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := cfg.validate(func(name string) bool { return given[name] }); err != nil {
		fmt.Fprintf(e.stderr, "Error: %s\nRun \"vault-entropy agent -h\" for its options.\n", err)
		return errUsage
	}
	// A missing or unreadable state file will not fix itself: say so now
	// rather than retry forever.
	if _, err := client.LoadState(cfg.statePath); err != nil {
		return err
	}
	auth, err := e.newAuth()
	if err != nil {
		return err
	}
	c, err := vaultClient()
	if err != nil {
		return err
	}
	// The agent's own tokens are the only ones it uses.
	c.ClearToken()
	a := &agent{cfg: cfg, auth: auth, vault: c, log: e.stderr}
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
	var netErr *net.OpError
	var urlErr *url.Error
	if errors.As(err, &netErr) || (errors.As(err, &urlErr) && !isHTTPStatus(err)) {
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
