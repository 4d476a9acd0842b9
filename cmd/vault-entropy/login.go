package main

import "context"

const loginHelp = `Usage: vault-entropy login [-state=PATH [-read-only] | -state=- | -state-env=NAME] [-mount=auth/entropy] [-format=table|json]

Logs in with a fresh proof and prints the token, or with -format=json the whole
response as ` + "`vault write -format=json`" + ` prints it. The response must carry a receipt
from the server that enrolled this client; a new entropy generation or new server
keys in it are stored in the state file before the token is printed.

From a read-only state (-state-env=VAULT_ENTROPY_STATE, -state=- for stdin,
-read-only for a file it may not write) it proves the state's current
generation, checks the receipt all the same, stores nothing, and says once on
stderr what it could not keep (a new generation, new server keys).

`

// loginCommand is `vault-entropy login`.
type loginCommand struct{ *baseCommand }

func (c *loginCommand) help() string { return loginHelp }

func (c *loginCommand) defineFlags() { c.flagSet(flagSetMount | flagSetFormat | flagSetReadOnly) }

func (c *loginCommand) run(ctx context.Context) error {
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	secret, err := vc.Auth().Login(ctx, auth)
	if err != nil {
		return err
	}
	return c.output(secret, line(secret.Auth.ClientToken))
}
