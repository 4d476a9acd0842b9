package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

func runLogin(ctx context.Context, e *cmdEnv, args []string) error {
	format := formatFlag(e.flags)
	mount := e.flags.String("mount", "", "mount path of the auth method (default: the one in the state file)")
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy login [-state=PATH] [-mount=auth/entropy] [-format=table|json]\n\n"+
			"Logs in with a fresh proof and prints the token, or with -format=json the whole\n"+
			"response as `vault write -format=json` prints it.\n\n")
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	opts := []client.Option{client.WithStateFile(*e.statePath)}
	if *mount != "" {
		opts = append(opts, client.WithMountPath(*mount))
	}
	auth, err := client.NewEntropyAuth(opts...)
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
