package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// baseCommand is what every subcommand embeds, as the vault CLI's commands
// embed its BaseCommand: the streams, the flag set with the flags the
// commands share, and the setup they share (parsing, the auth method, the
// Vault client, the output in the chosen -format). A subcommand adds its
// own flags and holds only its own logic.
type baseCommand struct {
	name           string
	stdin          io.Reader
	stdout, stderr io.Writer

	flags        *flag.FlagSet
	shared       flagSetBit
	flagState    string
	flagStateEnv string // the variable holding an encoded state (read-only)
	flagReadOnly bool   // -state names a file that is read, never written
	flagMount    string // "" when not given: the mount in the state file
	flagFormat   string
	// logger, when set, receives the library's notes (the agent's log);
	// otherwise they go to stderr, one line each.
	logger hclog.Logger
}

// flagSetBit names a group of shared flags a command takes besides -state,
// which every command takes.
type flagSetBit uint

const (
	// flagSetMount is -mount, for the commands that talk to the auth method.
	flagSetMount flagSetBit = 1 << iota
	// flagSetFormat is -format, for the commands that print what they fetch.
	flagSetFormat
	// flagSetReadOnly is -state-env and -read-only, and -state=- for
	// stdin: the read-only sources, for every command that writes no
	// state of its own.
	flagSetReadOnly
)

// base gives a subcommand's embedded baseCommand to the code that runs it.
func (b *baseCommand) base() *baseCommand { return b }

// flagSet makes the command's flag set, with -state and the shared flags
// that bits names; the command adds its own flags to it.
func (b *baseCommand) flagSet(bits flagSetBit) *flag.FlagSet {
	f := flag.NewFlagSet(b.name, flag.ContinueOnError)
	f.SetOutput(b.stderr)
	stateUsage := "path of the client state file"
	if bits&flagSetReadOnly != 0 {
		stateUsage += `; "-" reads the state from stdin, read-only (see -read-only)`
	}
	f.StringVar(&b.flagState, "state", client.DefaultStatePath(), stateUsage)
	if bits&flagSetMount != 0 {
		f.StringVar(&b.flagMount, "mount", "", "mount path of the auth method (default: the one in the state file)")
	}
	if bits&flagSetReadOnly != 0 {
		f.StringVar(&b.flagStateEnv, "state-env", "", "read the state, read-only, from this environment variable (by convention "+client.StateEnv+"), as \"vault-entropy bootstrap -encode\" prints it")
		f.BoolVar(&b.flagReadOnly, "read-only", false, "read the -state file without ever writing or locking it: prove its current generation, keep nothing a login brings (said once on stderr)")
	}
	if bits&flagSetFormat != 0 {
		f.StringVar(&b.flagFormat, "format", "table", `output format: "table" (the token or proof alone) or "json"`)
	}
	b.flags, b.shared = f, bits
	return f
}

// errUsage marks an error already reported on stderr (by the flag package
// or usageErrorf): the command exits 2 without another message.
var errUsage = errors.New("usage")

// usageErrorf reports a usage error on stderr and returns errUsage.
func (b *baseCommand) usageErrorf(format string, args ...interface{}) error {
	fmt.Fprintf(b.stderr, format+"\n", args...)
	return errUsage
}

// parse parses the command's arguments: -h gives flag.ErrHelp, a bad flag
// or an argument left over a usage error, an unknown -format an error.
func (b *baseCommand) parse(args []string) error {
	if err := b.flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if b.flags.NArg() > 0 {
		return b.usageErrorf("unexpected arguments: %v", b.flags.Args())
	}
	if b.shared&flagSetFormat != 0 && b.flagFormat != "table" && b.flagFormat != "json" {
		return fmt.Errorf("unknown -format %q (want table or json)", b.flagFormat)
	}
	given := map[string]bool{}
	b.flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["state-env"] && given["state"] {
		return b.usageErrorf("give only one of -state and -state-env")
	}
	if given["state-env"] && b.flagStateEnv == "" {
		return b.usageErrorf("-state-env needs the name of a variable, for example -state-env=%s", client.StateEnv)
	}
	return nil
}

// stateOption is the library's state source for -state, -state-env and
// -read-only: a writable state file unless one of the read-only sources is
// asked for, never as a fallback.
func (b *baseCommand) stateOption() client.Option {
	switch {
	case b.flagStateEnv != "":
		return client.WithStateFromEnv(b.flagStateEnv)
	case b.shared&flagSetReadOnly != 0 && b.flagState == "-":
		return client.WithStateReader(b.stdin, "stdin")
	case b.flagReadOnly:
		return client.WithReadOnlyStateFile(b.flagState)
	}
	return client.WithStateFile(b.flagState)
}

// noteLogger is where the library's notes go: the command's logger, or
// stderr, one sanitized line each.
func (b *baseCommand) noteLogger() *slog.Logger {
	l := b.logger
	if l == nil {
		l = hclog.New(&hclog.LoggerOptions{Name: b.name, Level: hclog.Info, Output: logLine{b.stderr}, DisableTime: true})
	}
	return slog.New(hclogHandler{l: l})
}

// newAuth is the library's auth method for -state (or -state-env,
// -read-only) and -mount.
func (b *baseCommand) newAuth() (*client.EntropyAuth, error) {
	opts := []client.Option{b.stateOption(), client.WithLogger(b.noteLogger())}
	if b.flagMount != "" {
		opts = append(opts, client.WithMountPath(b.flagMount))
	}
	return client.NewEntropyAuth(opts...)
}

// authAndClient is the auth method (newAuth) and the Vault client
// (vaultClient) of a command that logs in or fetches from the mount.
func (b *baseCommand) authAndClient() (*client.EntropyAuth, *api.Client, error) {
	auth, err := b.newAuth()
	if err != nil {
		return nil, nil, err
	}
	c, err := vaultClient()
	if err != nil {
		return nil, nil, err
	}
	return auth, c, nil
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

// output prints v as -format says: "json" as `vault ... -format=json`
// prints a response (indented JSON), "table" with table, which prints the
// value alone (a token, a proof, a list of keys).
func (b *baseCommand) output(v interface{}, table func(w io.Writer) error) error {
	if b.flagFormat == "json" {
		enc := json.NewEncoder(b.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return table(b.stdout)
}

// line is a table output of one line: s.
func line(s string) func(w io.Writer) error {
	return func(w io.Writer) error {
		_, err := fmt.Fprintln(w, s)
		return err
	}
}
