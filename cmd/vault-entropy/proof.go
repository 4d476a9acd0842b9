package main

import "context"

const proofHelp = `Usage: vault-entropy proof [-state=PATH [-read-only] | -state=- | -state-env=NAME] [-mount=auth/entropy] [-format=table|json]

Prints a fresh proof, valid for one login within the allowed clock skew:
  vault write auth/entropy/login role=R client_id=C proof="$(vault-entropy proof)"
It proves the pending entropy generation when the state has one (a read-only
state, -state-env, -state=- or -read-only as for login: its current one). When the role
requires challenge mode it first fetches a challenge from Vault (VAULT_ADDR).
Such a login's receipt is not checked and what it brings is not stored: use
"vault-entropy login" to keep the state up to date.
With -format=json it prints the login's path, role, client_id and proof.

`

// proofCommand is `vault-entropy proof`.
type proofCommand struct{ *baseCommand }

func (c *proofCommand) help() string { return proofHelp }

func (c *proofCommand) defineFlags() { c.flagSet(flagSetMount | flagSetFormat | flagSetReadOnly) }

func (c *proofCommand) run(ctx context.Context) error {
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	lr, _, err := auth.NewLoginRequest(ctx, vc)
	if err != nil {
		return err
	}
	return c.output(lr, line(lr.Proof))
}
