// Command serverless is a function as a serverless runtime runs it: a
// process started cold for each invocation, from a client state bundled
// read-only with its code, that logs in to Vault with entropy auth, reads a
// KV secret, answers, and exits. See docs/ci-and-serverless.md;
// testing/ephemeral runs it against a real Vault across a deploy-time
// rotation, old and new copies at once.
//
// Its configuration, as a function's environment gives it:
//
//	VAULT_ADDR                 Vault's address (and the other VAULT_*
//	                           variables vault/api reads)
//	ENTROPY_STATE_FILE         the bundled state: a file of the deployment
//	                           package, which the function may not write
//	                           (mode 0400 or 0600, in a directory only its
//	                           user can write, 0500 will do)
//	VAULT_ENTROPY_STATE        without ENTROPY_STATE_FILE: the encoded state
//	                           ("ves1....") itself
//	SECRET_MOUNT, SECRET_PATH  the KV v2 secret (default secret, ci/deploy)
//
// The invocation's event is a JSON object on stdin ({"request_id": "..."});
// the result is a JSON object on stdout that holds no secret:
// {"request_id": "...", "generation": "2", "secret_version": 3}. The log
// (JSON lines on stderr, where runtimes collect it) holds no secret either.
// The exit status is 0 when the invocation succeeded.
//
// A read-only state is proven as it is, at every invocation: the function
// never writes a rotated generation back (it could not), and says so once
// in its log when Vault offers one. The deploy pipeline rotates it by
// shipping a new state with each deployment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// invocationTimeout stands for the runtime's limit on one invocation.
const invocationTimeout = 30 * time.Second

// event is what the runtime hands the function; result is its answer.
type event struct {
	RequestID string `json:"request_id"`
}

type result struct {
	RequestID string `json:"request_id"`
	// Generation is the entropy generation the login proved (from the
	// token's metadata): which deployment's state this copy carries.
	Generation string `json:"generation"`
	// SecretVersion says which version of the secret the function read,
	// without saying what it holds.
	SecretVersion int `json:"secret_version"`
}

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), invocationTimeout)
	err := invoke(ctx, logger, os.Stdin, os.Stdout)
	cancel()
	if err != nil {
		// Errors name what failed, never a secret: the library's and
		// vault/api's errors quote neither the state nor a token.
		logger.Error("invocation failed", "error", err.Error())
		os.Exit(1)
	}
}

// invoke handles one invocation: the event on in, the result on out.
func invoke(ctx context.Context, logger *slog.Logger, in io.Reader, out io.Writer) error {
	var ev event
	if err := json.NewDecoder(io.LimitReader(in, 64<<10)).Decode(&ev); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the event: %w", err)
	}

	vc, err := api.NewClient(api.DefaultConfig()) // VAULT_ADDR, VAULT_CACERT...
	if err != nil {
		return err
	}
	// A runtime may hand the function a VAULT_TOKEN of its own; this
	// function uses the token its login gives it, and no other.
	vc.ClearToken()

	auth, err := client.NewEntropyAuth(stateSource(), client.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("the bundled state: %w", err)
	}
	login, err := vc.Auth().Login(ctx, auth) // sets vc's token
	if err != nil {
		return fmt.Errorf("logging in to Vault: %w", err)
	}
	// The token serves this invocation only: revoke it when done, so that
	// no token outlives the process that holds it. Its TTL bounds it if
	// the process is killed first.
	defer func() {
		if err := vc.Auth().Token().RevokeSelfWithContext(context.WithoutCancel(ctx), ""); err != nil {
			logger.Warn("could not revoke the invocation's token; it expires at its TTL", "error", err.Error())
		}
	}()

	mount, path := envOr("SECRET_MOUNT", "secret"), envOr("SECRET_PATH", "ci/deploy")
	secret, err := vc.KVv2(mount).Get(ctx, path)
	if err != nil {
		return fmt.Errorf("reading %s/%s: %w", mount, path, err)
	}
	// Here the function would use secret.Data; it answers with facts that
	// are not secret.
	res := result{RequestID: ev.RequestID, Generation: login.Auth.Metadata["generation"]}
	if secret.VersionMetadata != nil {
		res.SecretVersion = secret.VersionMetadata.Version
	}
	return json.NewEncoder(out).Encode(res)
}

// stateSource is the bundled file when ENTROPY_STATE_FILE names one, else
// the encoded state in VAULT_ENTROPY_STATE: read-only either way.
func stateSource() client.Option {
	if path := os.Getenv("ENTROPY_STATE_FILE"); path != "" {
		return client.WithReadOnlyStateFile(path)
	}
	return client.WithStateFromEnv(client.StateEnv)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
