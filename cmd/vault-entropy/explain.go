package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// explain turns an error into a message that says what to do about it.
func explain(err error, b *baseCommand) string {
	switch {
	case errors.Is(err, client.ErrNoState) && b.flagStateEnv != "":
		return fmt.Sprintf("%s. Set it to the state as \"vault-entropy bootstrap -encode\" prints it (a CI secret, a function's configuration).", err)
	case errors.Is(err, client.ErrNoState):
		return fmt.Sprintf("%s. Run \"vault-entropy bootstrap\" first, or point -state or %s at the state file.", err, client.StateFileEnv)
	case errors.Is(err, client.ErrEncodedState):
		return fmt.Sprintf("%s. Give the state as \"vault-entropy bootstrap -encode\" prints it (one line starting with \"ves1.\"), or as a state file's JSON; "+
			"a state file's path belongs in -state or %s.", err, client.StateFileEnv)
	case errors.Is(err, client.ErrStateReadable):
		return fmt.Sprintf("%s. The file holds this client's secret entropy: run \"chmod 600 %s\".", err, b.flagState)
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
			err, clientPath(b))
	case errors.Is(err, client.ErrNoReceipt), errors.Is(err, client.ErrReceipt):
		return fmt.Sprintf("%s; its token was discarded. Only the Vault that enrolled this client can make a valid receipt: "+
			"check that VAULT_ADDR (and -mount) point at it and that no proxy answers in its place. "+
			"An entropy plugin older than this client sends no receipt: upgrade the plugin.", err)
	case unreachable(err):
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
func clientPath(b *baseCommand) string {
	mount, role, id := "auth/entropy", "<role>", "<client_id>"
	if s := b.stateForMessages(); s != nil {
		mount, role, id = s.MountPath, s.Role, s.ClientID
	}
	if b.flagMount != "" {
		mount = strings.Trim(b.flagMount, "/")
	}
	return fmt.Sprintf("%s/role/%s/client/%s", mount, role, id)
}

// stateForMessages is the state the command used, read again for a
// message, or nil: stdin cannot be read twice.
func (b *baseCommand) stateForMessages() *client.State {
	var s *client.State
	var err error
	switch {
	case b.flagStateEnv != "":
		s, err = client.DecodeState([]byte(os.Getenv(b.flagStateEnv)))
	case b.flagState == "-":
		return nil
	default:
		s, err = client.LoadState(b.flagState)
	}
	if err != nil {
		return nil
	}
	return s
}

// unreachable reports whether err is a failure to reach Vault (to connect,
// or to get an answer) rather than Vault's answer.
func unreachable(err error) bool {
	var netErr *net.OpError
	var urlErr *url.Error
	var re *api.ResponseError
	return errors.As(err, &netErr) || (errors.As(err, &urlErr) && !errors.As(err, &re))
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
