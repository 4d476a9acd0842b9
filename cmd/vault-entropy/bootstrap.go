package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

func runBootstrap(ctx context.Context, e *cmdEnv, args []string) error {
	wrapToken := e.flags.String("wrap-token", "", `response-wrapping token holding the enrollment bundle: "-" reads it from stdin (a token given here shows in the process list)`)
	bundleFile := e.flags.String("bundle", "", `file holding the enrollment bundle as JSON ("-" reads stdin)`)
	force := e.flags.Bool("force", false, "overwrite an existing state file")
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy bootstrap (-wrap-token=- | -bundle=FILE) [-state=PATH] [-force]\n\n"+
			"Writes the client state (mode 0600, atomically) from an enrollment bundle:\n"+
			"  vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/web/enroll\n"+
			"  vault-entropy bootstrap -wrap-token=-   # token on stdin, not in the process list\n\n"+
			"A wrapping token not made by an enroll endpoint (sys/wrapping/lookup's\n"+
			"creation_path) is refused, and nothing is written.\n\n")
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	if (*wrapToken == "") == (*bundleFile == "") {
		fmt.Fprintln(e.stderr, "give exactly one of -wrap-token and -bundle")
		return errUsage
	}
	if _, err := os.Stat(*e.statePath); err == nil && !*force {
		return fmt.Errorf("a state file already exists at %s; use -force to replace it (the client it holds can then no longer log in from here)", *e.statePath)
	}

	var state *client.State
	if *wrapToken != "" {
		token, err := readSecretInput(*wrapToken, e.stdin)
		if err != nil {
			return err
		}
		c, err := vaultClient()
		if err != nil {
			return err
		}
		if state, err = client.Unwrap(ctx, c, token); err != nil {
			return err
		}
	} else {
		raw, err := readBundle(*bundleFile, e.stdin)
		if err != nil {
			return err
		}
		if state, err = client.StateFromBundle(raw); err != nil {
			return err
		}
	}
	if err := state.Save(*e.statePath); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	fmt.Fprintf(e.stdout, "Client %s of role %s (mount %s) enrolled; state written to %s\n",
		client.SanitizeText(state.ClientID), client.SanitizeText(state.Role), client.SanitizeText(state.MountPath), *e.statePath)
	return nil
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
