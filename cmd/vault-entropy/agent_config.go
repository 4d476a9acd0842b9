package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

const (
	// minBackoff is the shortest delay after a failure; delays grow from
	// it up to -max-backoff (see retryBackoff).
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
