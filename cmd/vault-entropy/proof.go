package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

func runProof(_ context.Context, e *cmdEnv, args []string) error {
	format := formatFlag(e.flags)
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy proof [-state=PATH] [-format=table|json]\n\n"+
			"Prints a fresh proof, valid for one login within the allowed clock skew:\n"+
			"  vault write auth/entropy/login role=R client_id=C proof=\"$(vault-entropy proof)\"\n"+
			"With -format=json it prints the login's path, role, client_id and proof.\n\n")
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	auth, err := client.NewEntropyAuth(client.WithStateFile(*e.statePath))
	if err != nil {
		return err
	}
	lr, _, err := auth.NewLoginRequest()
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
