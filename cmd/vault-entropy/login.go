package main

import (
	"context"
	"encoding/json"
	"fmt"
)

func runLogin(ctx context.Context, e *cmdEnv, args []string) error {
	format := formatFlag(e.flags)
	e.mountFlag()
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy login [-state=PATH] [-mount=auth/entropy] [-format=table|json]\n\n"+
			"Logs in with a fresh proof and prints the token, or with -format=json the whole\n"+
			"response as `vault write -format=json` prints it. The response must carry a receipt\n"+
			"from the server that enrolled this client; a new entropy generation or new server\n"+
			"keys in it are stored in the state file before the token is printed.\n\n")
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
	secret, err := c.Auth().Login(ctx, auth)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(secret)
	}
	_, err = fmt.Fprintln(e.stdout, secret.Auth.ClientToken)
	return err
}
