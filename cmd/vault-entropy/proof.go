package main

import (
	"context"
	"encoding/json"
	"fmt"
)

func runProof(ctx context.Context, e *cmdEnv, args []string) error {
	format := formatFlag(e.flags)
	e.mountFlag()
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy proof [-state=PATH] [-mount=auth/entropy] [-format=table|json]\n\n"+
			"Prints a fresh proof, valid for one login within the allowed clock skew:\n"+
			"  vault write auth/entropy/login role=R client_id=C proof=\"$(vault-entropy proof)\"\n"+
			"It proves the pending entropy generation when the state has one. When the role\n"+
			"requires challenge mode it first fetches a challenge from Vault (VAULT_ADDR).\n"+
			"Such a login's receipt is not checked and what it brings is not stored: use\n"+
			"\"vault-entropy login\" to keep the state up to date.\n"+
			"With -format=json it prints the login's path, role, client_id and proof.\n\n")
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
	lr, _, err := auth.NewLoginRequest(ctx, c)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(lr)
	}
	_, err = fmt.Fprintln(e.stdout, lr.Proof)
	return err
}
