package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// StateEnv names the environment variable that holds the state file path.
const StateEnv = "VAULT_ENTROPY_STATE"

// DefaultStatePath is the state file used when neither an option nor
// VAULT_ENTROPY_STATE names one: ~/.vault-entropy/state.json.
func DefaultStatePath() string {
	if p := os.Getenv(StateEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".vault-entropy", "state.json")
	}
	return filepath.Join(home, ".vault-entropy", "state.json")
}

// ErrLoginRefused is returned when Vault refuses the proof. Vault does not
// say why (every refusal looks the same to the caller); its server log does.
var ErrLoginRefused = errors.New("Vault refused the login")

// EntropyAuth logs in with an entropy proof. It implements api.AuthMethod,
// so client.Auth().Login(ctx, auth) sets the client's token.
type EntropyAuth struct {
	statePath string
	mountPath string
	now       func() time.Time
}

var _ api.AuthMethod = (*EntropyAuth)(nil)

// Option configures an EntropyAuth.
type Option func(*EntropyAuth)

// WithStateFile sets the state file (default: DefaultStatePath).
func WithStateFile(path string) Option { return func(a *EntropyAuth) { a.statePath = path } }

// WithMountPath overrides the mount path recorded in the state file, for
// example "auth/entropy-eu".
func WithMountPath(path string) Option {
	return func(a *EntropyAuth) { a.mountPath = strings.Trim(path, "/") }
}

// NewEntropyAuth returns an auth method for client.Auth().Login.
func NewEntropyAuth(opts ...Option) (*EntropyAuth, error) {
	a := &EntropyAuth{statePath: DefaultStatePath(), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	if a.statePath == "" {
		return nil, errors.New("no state file")
	}
	return a, nil
}

// StatePath is the state file this auth method reads.
func (a *EntropyAuth) StatePath() string { return a.statePath }

// LoginRequest is one login's request: its path and its fields.
type LoginRequest struct {
	Path     string `json:"path"`
	Role     string `json:"role"`
	ClientID string `json:"client_id"`
	Proof    string `json:"proof"`
}

// Data is the request body of the login.
func (r *LoginRequest) Data() map[string]interface{} {
	return map[string]interface{}{"role": r.Role, "client_id": r.ClientID, "proof": r.Proof}
}

// NewLoginRequest loads the state and builds a fresh proof for one login.
func (a *EntropyAuth) NewLoginRequest() (*LoginRequest, *protocol.ClientSession, error) {
	s, err := LoadState(a.statePath)
	if err != nil {
		return nil, nil, err
	}
	key, err := s.currentKey()
	if err != nil {
		return nil, nil, err
	}
	proof, session, err := protocol.NewProof(protocol.ProofInput{
		ServerKey:  key,
		Role:       s.Role,
		ClientID:   s.ClientID,
		Generation: s.Generation,
		Entropy:    s.Entropy,
		Sampling:   s.sampling(),
		IssuedAt:   a.now(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("building proof: %w", err)
	}
	mount := s.MountPath
	if a.mountPath != "" {
		mount = a.mountPath
	}
	return &LoginRequest{Path: mount + "/login", Role: s.Role, ClientID: s.ClientID, Proof: proof}, session, nil
}

// Login logs in to Vault with a fresh proof. It does not send the client's
// token: the login path is unauthenticated.
func (a *EntropyAuth) Login(ctx context.Context, c *api.Client) (*api.Secret, error) {
	lr, _, err := a.NewLoginRequest()
	if err != nil {
		return nil, err
	}
	lc, err := c.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	lc.ClearToken()
	secret, err := lc.Logical().WriteWithContext(ctx, lr.Path, lr.Data())
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusBadRequest) {
			return nil, fmt.Errorf("%w (%d at %s): %s", ErrLoginRefused, re.StatusCode, lr.Path, strings.Join(re.Errors, "; "))
		}
		return nil, err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, errors.New("login response holds no token")
	}
	return secret, nil
}
