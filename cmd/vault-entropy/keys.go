package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

func runKeys(ctx context.Context, e *cmdEnv, args []string) error {
	format := formatFlag(e.flags)
	e.mountFlag()
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy keys [-state=PATH] [-mount=auth/entropy] [-format=table|json]\n\n"+
			"Fetches the server's public keys from <mount>/keys (unauthenticated) and prints\n"+
			"them. It stores nothing: anyone who answers for Vault can serve a key, so keys\n"+
			"enter the state file only through a login's receipt, which only the server that\n"+
			"enrolled this client can make. \"vault-entropy login\" fetches them by itself,\n"+
			"once, when Vault no longer accepts the key in the state file.\n\n")
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
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
	keys, err := auth.FetchKeys(ctx, c)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(keys)
	}
	for _, k := range keys {
		current := ""
		if k.Current {
			current = "  current"
		}
		// Only the current key is parsed (and its key_id checked): the
		// others' fields are the server's words, made safe to print.
		if _, err := fmt.Fprintf(e.stdout, "%s  %s%s\n", client.SanitizeText(k.KeyID), client.SanitizeText(k.Suite), current); err != nil {
			return err
		}
	}
	return nil
}
