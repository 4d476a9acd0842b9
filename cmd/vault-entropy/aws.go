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

const awsHelp = `Usage: vault-entropy aws-credential-process -path=aws/sts/ROLE [-state=PATH] [-address=URL] [-mount=auth/entropy] [-ttl=15m] [-role-arn=ARN]

Logs in to Vault with a fresh proof, reads AWS credentials from -path, and prints
them as the JSON an AWS SDK or the aws CLI expects from a credential_process
command. Use it in a profile of ~/.aws/config:

  [profile web]
  credential_process = /usr/local/bin/vault-entropy aws-credential-process -path aws/sts/web -state /var/lib/web/vault-entropy.json -address https://vault.example.com:8200

Write absolute paths: not every SDK runs the command through a shell, so ~ and
$VARIABLES are not expanded. The command inherits the environment of the program
using the profile (VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, ...).
On failure nothing is printed on stdout and the exit status is not zero.

`

// awsCommand is `vault-entropy aws-credential-process`.
type awsCommand struct {
	*baseCommand
	flagPath    string
	flagTTL     string
	flagRoleARN string
	flagAddress string
}

func (c *awsCommand) help() string { return awsHelp }

func (c *awsCommand) defineFlags() {
	f := c.flagSet(flagSetMount | flagSetReadOnly)
	f.StringVar(&c.flagPath, "path", "", "Vault path to read AWS credentials from, for example aws/sts/web or aws/creds/web (required)")
	f.StringVar(&c.flagTTL, "ttl", "", `lifetime to ask Vault's AWS engine for, for example "15m" (its ttl parameter; default: the Vault role's)`)
	f.StringVar(&c.flagRoleARN, "role-arn", "", "ARN of the AWS role to assume, when the Vault role allows several (the engine's role_arn parameter)")
	f.StringVar(&c.flagAddress, "address", "", "Vault's address (default: $VAULT_ADDR), so that a profile can name it where no environment is set")
}

func (c *awsCommand) run(ctx context.Context) error {
	if c.flagPath == "" {
		return c.usageErrorf("-path is required: the Vault path of the AWS credentials, for example -path aws/sts/web")
	}
	var opts []awscreds.Option
	if c.flagTTL != "" {
		// Checked here so that a typo is a usage error, not Vault's 400.
		if d, err := parseutil.ParseDurationSecond(c.flagTTL); err != nil || d <= 0 {
			return c.usageErrorf("-ttl %q is not a positive duration (for example 900, 15m or 1h)", c.flagTTL)
		}
		opts = append(opts, awscreds.WithParameter("ttl", c.flagTTL))
	}
	if c.flagRoleARN != "" {
		opts = append(opts, awscreds.WithParameter("role_arn", c.flagRoleARN))
	}
	if c.flagAddress != "" {
		// As if VAULT_ADDR said it, for the client and for the error
		// messages that name the address (a process runs one command).
		if err := os.Setenv(api.EnvVaultAddress, c.flagAddress); err != nil {
			return err
		}
	}
	auth, vc, err := c.authAndClient()
	if err != nil {
		return err
	}
	creds, err := awscreds.New(vc, auth, c.flagPath, opts...).Retrieve(ctx)
	if err != nil {
		return err
	}
	out, err := credentialProcessJSON(creds)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(out)
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
