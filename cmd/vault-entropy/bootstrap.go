package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

const bootstrapHelp = `Usage: vault-entropy bootstrap (-wrap-token=- | -bundle=FILE) [-state=PATH] [-force | -encode]

Writes the client state (mode 0600, atomically) from an enrollment bundle:
  vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/web/enroll
  vault-entropy bootstrap -wrap-token=-   # token on stdin, not in the process list

A wrapping token not made by an enroll endpoint (sys/wrapping/lookup's
creation_path) is refused, and nothing is written.

With -encode it writes no file: it prints the state on stdout as one line
("ves1...."), for a pipeline to store as a CI secret or in a function's
configuration, from where a read-only client logs in with
-state-env=` + client.StateEnv + `. The line holds the client's secret entropy:
send it straight to the secret store, never to a log. See docs/ci-and-serverless.md.

`

// bootstrapCommand is `vault-entropy bootstrap`.
type bootstrapCommand struct {
	*baseCommand
	flagWrapToken string
	flagBundle    string
	flagForce     bool
	flagEncode    bool
}

func (c *bootstrapCommand) help() string { return bootstrapHelp }

func (c *bootstrapCommand) defineFlags() {
	f := c.flagSet(0)
	f.StringVar(&c.flagWrapToken, "wrap-token", "", `response-wrapping token holding the enrollment bundle: "-" reads it from stdin (a token given here shows in the process list)`)
	f.StringVar(&c.flagBundle, "bundle", "", `file holding the enrollment bundle as JSON ("-" reads stdin)`)
	f.BoolVar(&c.flagForce, "force", false, "overwrite an existing state file")
	f.BoolVar(&c.flagEncode, "encode", false, "print the state on stdout, encoded for "+client.StateEnv+" (read-only use), instead of writing a state file")
}

func (c *bootstrapCommand) run(ctx context.Context) error {
	if (c.flagWrapToken == "") == (c.flagBundle == "") {
		return c.usageErrorf("give exactly one of -wrap-token and -bundle")
	}
	if c.flagEncode {
		return c.encode(ctx)
	}
	if _, err := os.Stat(c.flagState); err == nil && !c.flagForce {
		return fmt.Errorf("a state file already exists at %s; use -force to replace it (the client it holds can then no longer log in from here)", c.flagState)
	}
	state, err := c.enrollment(ctx)
	if err != nil {
		return err
	}
	if err := state.Save(c.flagState); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	fmt.Fprintf(c.stdout, "Client %s of role %s (mount %s) enrolled; state written to %s\n",
		client.SanitizeText(state.ClientID), client.SanitizeText(state.Role), client.SanitizeText(state.MountPath), c.flagState)
	return nil
}

// encode prints the state as EncodeState encodes it, and writes nothing.
func (c *bootstrapCommand) encode(ctx context.Context) error {
	given := map[string]bool{}
	c.flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["state"] || given["force"] {
		return c.usageErrorf("-encode writes no state file: -state and -force do not apply")
	}
	state, err := c.enrollment(ctx)
	if err != nil {
		return err
	}
	encoded, err := client.EncodeState(state)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, encoded)
	return err
}

// enrollment is the client state from the wrapping token or the bundle.
func (c *bootstrapCommand) enrollment(ctx context.Context) (*client.State, error) {
	if c.flagWrapToken != "" {
		token, err := readSecretInput(c.flagWrapToken, c.stdin)
		if err != nil {
			return nil, err
		}
		vc, err := vaultClient()
		if err != nil {
			return nil, err
		}
		return client.Unwrap(ctx, vc, token)
	}
	raw, err := readBundle(c.flagBundle, c.stdin)
	if err != nil {
		return nil, err
	}
	return client.StateFromBundle(raw)
}

// readSecretInput reads a value given on the command line, or from stdin
// when it is "-", trimmed of surrounding white space.
func readSecretInput(value string, stdin io.Reader) (string, error) {
	if value != "-" {
		return strings.TrimSpace(value), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readBundle(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(stdin, 4<<20))
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no bundle file at %s", path)
	}
	return b, err
}
