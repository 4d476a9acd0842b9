package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"
)

const usage = `Usage: vault-entropy <command> [options]

Commands:
  bootstrap   Unwrap an enrollment bundle (or read one from a file) and write the client state
              (or, with -encode, print it for VAULT_ENTROPY_STATE).
  proof       Print a fresh single-use login proof.
  login       Log in to Vault and print the token (or the whole response with -format=json).
  keys        Fetch the server's public keys and store them in the state.
  agent       Keep a token, or a proof for Vault Agent, fresh in a file (runs until stopped).
  aws-credential-process
              Print AWS credentials read from Vault as AWS credential_process JSON.
  version     Print the version and commit this binary was built from.

The state file is -state, else $VAULT_ENTROPY_STATE_FILE, else ~/.vault-entropy/state.json.
A workload that cannot write its state (a CI job, a function) reads it read-only
with -state-env=VAULT_ENTROPY_STATE (as "bootstrap -encode" prints it), -state=-
(stdin) or -read-only (a file it may not write); see docs/ci-and-serverless.md.
Vault is reached as the vault CLI does: VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, ...

Run "vault-entropy <command> -h" for a command's options.
`

// Exit codes, as the vault CLI uses them.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// subcommand is one command of vault-entropy. It embeds *baseCommand (see
// base.go), which gives it base.
type subcommand interface {
	base() *baseCommand
	// help is what -h prints above the flags.
	help() string
	// defineFlags makes the command's flag set (baseCommand.flagSet) and
	// adds the command's own flags to it.
	defineFlags()
	// run is the command's own logic, once its flags are parsed.
	run(ctx context.Context) error
}

// commands makes each subcommand over its base.
var commands = map[string]func(*baseCommand) subcommand{
	"bootstrap":              func(b *baseCommand) subcommand { return &bootstrapCommand{baseCommand: b} },
	"proof":                  func(b *baseCommand) subcommand { return &proofCommand{b} },
	"login":                  func(b *baseCommand) subcommand { return &loginCommand{b} },
	"keys":                   func(b *baseCommand) subcommand { return &keysCommand{b} },
	"agent":                  func(b *baseCommand) subcommand { return &agentCommand{baseCommand: b} },
	"aws-credential-process": func(b *baseCommand) subcommand { return &awsCommand{baseCommand: b} },
	"version":                func(b *baseCommand) subcommand { return &versionCommand{b} },
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	newCommand, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "Error: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	cmd := newCommand(&baseCommand{name: args[0], stdin: stdin, stdout: stdout, stderr: stderr})
	ctx, cancel := commandContext(args[0])
	defer cancel()
	err := runCommand(ctx, cmd, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	}
	fmt.Fprintf(stderr, "Error: %s\n", safeLines(explain(err, cmd.base())))
	return exitError
}

// runCommand parses args into cmd's flags, -h printing its help and its
// flags, and runs it.
func runCommand(ctx context.Context, cmd subcommand, args []string) error {
	cmd.defineFlags()
	b := cmd.base()
	b.flags.Usage = func() {
		fmt.Fprint(b.stderr, cmd.help())
		b.flags.PrintDefaults()
	}
	if err := b.parse(args); err != nil {
		return err
	}
	return cmd.run(ctx)
}

// commandContext is the context a command runs in: the long-running agent
// until SIGINT or SIGTERM, any other command for at most two minutes.
func commandContext(name string) (context.Context, context.CancelFunc) {
	if name == "agent" {
		return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	}
	return context.WithTimeout(context.Background(), 2*time.Minute)
}
