package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client/awscreds"
)

// credentialProcess is what an AWS SDK reads from a credential_process
// command's stdout: Version 1, the keys, and the expiry in RFC 3339 (the
// SDKs treat credentials without Expiration as never expiring, so it is
// always there).
type credentialProcess struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	Expiration      string `json:"Expiration"`
}

func runAWSCredentialProcess(ctx context.Context, e *cmdEnv, args []string) error {
	path := e.flags.String("path", "", "Vault path to read AWS credentials from, for example aws/sts/web or aws/creds/web (required)")
	ttl := e.flags.String("ttl", "", `lifetime to ask Vault's AWS engine for, for example "15m" (its ttl parameter; default: the Vault role's)`)
	roleARN := e.flags.String("role-arn", "", "ARN of the AWS role to assume, when the Vault role allows several (the engine's role_arn parameter)")
	address := e.flags.String("address", "", "Vault's address (default: $VAULT_ADDR), so that a profile can name it where no environment is set")
	e.mountFlag()
	e.flags.Usage = func() {
		fmt.Fprint(e.stderr, "Usage: vault-entropy aws-credential-process -path=aws/sts/ROLE [-state=PATH] [-address=URL] [-mount=auth/entropy] [-ttl=15m] [-role-arn=ARN]\n\n"+
			"Logs in to Vault with a fresh proof, reads AWS credentials from -path, and prints\n"+
			"them as the JSON an AWS SDK or the aws CLI expects from a credential_process\n"+
			"command. Use it in a profile of ~/.aws/config:\n\n"+
			"  [profile web]\n"+
			"  credential_process = /usr/local/bin/vault-entropy aws-credential-process -path aws/sts/web -state /var/lib/web/vault-entropy.json -address https://vault.example.com:8200\n\n"+
			"Write absolute paths: not every SDK runs the command through a shell, so ~ and\n"+
			"$VARIABLES are not expanded. The command inherits the environment of the program\n"+
			"using the profile (VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, ...).\n"+
			"On failure nothing is printed on stdout and the exit status is not zero.\n\n")
		e.flags.PrintDefaults()
	}
	if err := e.parse(args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "-path is required: the Vault path of the AWS credentials, for example -path aws/sts/web")
		return errUsage
	}
	if *ttl != "" {
		// Checked here so that a typo is a usage error, not Vault's 400.
		if d, err := parseutil.ParseDurationSecond(*ttl); err != nil || d <= 0 {
			fmt.Fprintf(e.stderr, "-ttl %q is not a positive duration (for example 900, 15m or 1h)\n", *ttl)
			return errUsage
		}
	}
	var opts []awscreds.Option
	if *ttl != "" {
		opts = append(opts, awscreds.WithParameter("ttl", *ttl))
	}
	if *roleARN != "" {
		opts = append(opts, awscreds.WithParameter("role_arn", *roleARN))
	}
	auth, err := e.newAuth()
	if err != nil {
		return err
	}
	if *address != "" {
		// As if VAULT_ADDR said it, for the client and for the error
		// messages that name the address (a process runs one command).
		if err := os.Setenv(api.EnvVaultAddress, *address); err != nil {
			return err
		}
	}
	vc, err := vaultClient()
	if err != nil {
		return err
	}
	creds, err := awscreds.New(vc, auth, *path, opts...).Retrieve(ctx)
	if err != nil {
		return err
	}
	out, err := credentialProcessJSON(creds)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

// credentialProcessJSON is the credential_process output for creds, one
// JSON object and a newline. Credentials without an expiry are refused
// (the library refuses them too): the SDKs would use them for ever.
func credentialProcessJSON(creds aws.Credentials) ([]byte, error) {
	if !creds.CanExpire {
		return nil, fmt.Errorf("refusing to print credentials without an expiry: %w", awscreds.ErrNoExpiry)
	}
	out := credentialProcess{
		Version:         1,
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: creds.SecretAccessKey,
		SessionToken:    creds.SessionToken,
	}
	// RFC 3339 drops the fraction of a second: the expiry printed is
	// never later than the real one.
	out.Expiration = creds.Expires.UTC().Format(time.RFC3339)
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
