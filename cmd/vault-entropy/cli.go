package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

const usage = `Usage: vault-entropy <command> [options]

Commands:
  bootstrap   Unwrap an enrollment bundle (or read one from a file) and write the client state.
  proof       Print a fresh single-use login proof.
  login       Log in to Vault and print the token (or the whole response with -format=json).
  keys        Fetch the server's public keys and store them in the state.
  agent       Keep a token, or a proof for Vault Agent, fresh in a file (runs until stopped).
  aws-credential-process
              Print AWS credentials read from Vault as AWS credential_process JSON.

The state file is -state, else $VAULT_ENTROPY_STATE, else ~/.vault-entropy/state.json.
Vault is reached as the vault CLI does: VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, ...

Run "vault-entropy <command> -h" for a command's options.
`

// Exit codes, as the vault CLI uses them.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name string
	run  func(ctx context.Context, cmd *cmdEnv, args []string) error
}

// cmdEnv is what every command gets: its streams and its flag set.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	flags          *flag.FlagSet
	statePath      *string
	// mountPath is the -mount flag of the commands that have one.
	mountPath *string
}

var commands = []command{
	{"bootstrap", runBootstrap},
	{"proof", runProof},
	{"login", runLogin},
	{"keys", runKeys},
	{"agent", runAgent},
	{"aws-credential-process", runAWSCredentialProcess},
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, flags: flag.NewFlagSet(c.name, flag.ContinueOnError)}
		env.flags.SetOutput(stderr)
		env.statePath = env.flags.String("state", client.DefaultStatePath(), "path of the client state file")
		ctx, cancel := commandContext(c.name)
		defer cancel()
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			return exitUsage
		}
		fmt.Fprintf(stderr, "Error: %s\n", safeLines(explain(err, env)))
		return exitError
	}
	fmt.Fprintf(stderr, "Error: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// commandContext is the context a command runs in: the long-running agent
// until SIGINT or SIGTERM, any other command for at most two minutes.
func commandContext(name string) (context.Context, context.CancelFunc) {
	if name == "agent" {
		return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	}
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// errUsage marks an error already reported by the flag package.
var errUsage = errors.New("usage")

func (e *cmdEnv) parse(args []string) error {
	if err := e.flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if e.flags.NArg() > 0 {
		fmt.Fprintf(e.stderr, "unexpected arguments: %v\n", e.flags.Args())
		return errUsage
	}
	return nil
}

// vaultClient is an api client configured from the VAULT_* variables,
// hardened as the library's own copies are (client.Harden): every command
// sends a proof, a wrapping token or a token, and reads what Vault answers.
func vaultClient() (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	return client.Harden(c)
}

// explain turns an error into a message that says what to do about it.
func explain(err error, e *cmdEnv) string {
	var netErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.Is(err, client.ErrNoState):
		return fmt.Sprintf("%s. Run \"vault-entropy bootstrap\" first, or point -state or %s at the state file.", err, client.StateEnv)
	case errors.Is(err, client.ErrStateReadable):
		return fmt.Sprintf("%s. The file holds this client's secret entropy: run \"chmod 600 %s\".", err, *e.statePath)
	case errors.Is(err, client.ErrStateOwner):
		return fmt.Sprintf("%s. Run the command as the user who owns the state, or, if that user is you and the file is not from someone else, chown it (and its .lock file) to yourself.", err)
	case errors.Is(err, client.ErrStateDirectory):
		return fmt.Sprintf("%s. Keep the state in a directory only you can write (\"chmod 700\"), such as ~/.vault-entropy.", err)
	case errors.Is(err, client.ErrWrappingToken):
		return fmt.Sprintf("%s. Nothing was written. Ask the operator for a new token from \"vault write -wrap-ttl=5m -field=wrapping_token -f auth/<mount>/role/<role>/enroll\", and tell them: a token that is not theirs means someone else handed it over.", err)
	case errors.Is(err, client.ErrCorruptState):
		return fmt.Sprintf("%s. Restore it from a backup or enroll the client again.", err)
	case errors.Is(err, client.ErrLoginRefused):
		return fmt.Sprintf("%s. The Vault server log gives the reason of every refusal (\"login refused\"). "+
			"Check the client with \"vault read %s\": does it exist, is it locked (after failed proofs, or because a copy of its state file was used), has it expired? "+
			"Other causes: the state file belongs to another Vault or mount, or this machine's clock is off by more than the allowed skew.",
			err, clientPath(e))
	case errors.Is(err, client.ErrNoReceipt), errors.Is(err, client.ErrReceipt):
		return fmt.Sprintf("%s; its token was discarded. Only the Vault that enrolled this client can make a valid receipt: "+
			"check that VAULT_ADDR (and -mount) point at it and that no proxy answers in its place. "+
			"An entropy plugin older than this client sends no receipt: upgrade the plugin.", err)
	case errors.As(err, &netErr) || (errors.As(err, &urlErr) && !isHTTPStatus(err)):
		return fmt.Sprintf("cannot reach Vault at %s: %s. Check VAULT_ADDR and that Vault is running.", vaultAddr(), rootCause(err))
	}
	msg := err.Error()
	var re *api.ResponseError
	if errors.As(err, &re) {
		// vault/api's own layout spans lines around Vault's words; on
		// one line, those words cannot pose as lines of their own.
		msg = strings.Replace(msg, re.Error(), fmt.Sprintf("Vault answered %d to %s %s: %s", re.StatusCode, re.HTTPMethod, re.URL,
			strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")), 1)
	}
	return msg
}

// safeLines is a message for the terminal: each of its lines sanitized
// (client.SanitizeText), so that text from Vault inside it carries no
// escape sequence or carriage return; the message's own line breaks stay.
func safeLines(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = client.SanitizeText(l)
	}
	return strings.Join(lines, "\n")
}

// clientPath is the Vault path of the client the state file holds, for
// an operator to read; placeholders when the state cannot be read.
func clientPath(e *cmdEnv) string {
	mount, role, id := "auth/entropy", "<role>", "<client_id>"
	if s, err := client.LoadState(*e.statePath); err == nil {
		mount, role, id = s.MountPath, s.Role, s.ClientID
	}
	if e.mountPath != nil && *e.mountPath != "" {
		mount = strings.Trim(*e.mountPath, "/")
	}
	return fmt.Sprintf("%s/role/%s/client/%s", mount, role, id)
}

// mountFlag adds -mount to a command that talks to the auth method.
func (e *cmdEnv) mountFlag() {
	e.mountPath = e.flags.String("mount", "", "mount path of the auth method (default: the one in the state file)")
}

// newAuth is the library's auth method for the command's -state and -mount.
func (e *cmdEnv) newAuth() (*client.EntropyAuth, error) {
	opts := []client.Option{client.WithStateFile(*e.statePath)}
	if e.mountPath != nil && *e.mountPath != "" {
		opts = append(opts, client.WithMountPath(*e.mountPath))
	}
	return client.NewEntropyAuth(opts...)
}

func isHTTPStatus(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re)
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func vaultAddr() string {
	if a := os.Getenv(api.EnvVaultAddress); a != "" {
		return a
	}
	return api.DefaultConfig().Address
}

// formatFlag adds the -format flag of the vault CLI.
func formatFlag(f *flag.FlagSet) *string {
	return f.String("format", "table", `output format: "table" (the token or proof alone) or "json"`)
}

func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return fmt.Errorf("unknown -format %q (want table or json)", format)
	}
	return nil
}

// readSecretInput reads a value given on the command line, or from stdin
// when it is "-", trimmed of surrounding white space.
func readSecretInput(value string, stdin io.Reader) (string, error) {
	if value != "-" {
		return strings.TrimSpace(value), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
