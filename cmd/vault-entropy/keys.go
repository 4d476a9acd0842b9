package main

import (
	"context"
	"fmt"
	"io"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

const keysHelp = `Usage: vault-entropy keys [-state=PATH] [-mount=auth/entropy] [-format=table|json]

Fetches the server's public keys from <mount>/keys (unauthenticated) and prints
them. It stores nothing: anyone who answers for Vault can serve a key, so keys
enter the state file only through a login's receipt, which only the server that
enrolled this client can make. "vault-entropy login" fetches them by itself,
once, when Vault no longer accepts the key in the state file.

`

// keysCommand is `vault-entropy keys`.
type keysCommand struct{ *baseCommand }

func (c *keysCommand) help() string { return keysHelp }

func (c *keysCommand) defineFlags() { c.flagSet(flagSetMount | flagSetFormat | flagSetReadOnly) }

func (c *keysCommand) run(ctx context.Context) error {
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	keys, err := auth.FetchKeys(ctx, vc)
	if err != nil {
		return err
	}
	return c.output(keys, func(w io.Writer) error {
		for _, k := range keys {
			current := ""
			if k.Current {
				current = "  current"
			}
			// Only the current key is parsed (and its key_id checked):
			// the others' fields are the server's words, made safe to
			// print.
			if _, err := fmt.Fprintf(w, "%s  %s%s\n", client.SanitizeText(k.KeyID), client.SanitizeText(k.Suite), current); err != nil {
				return err
			}
		}
		return nil
	})
}
