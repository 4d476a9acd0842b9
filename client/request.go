package client

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

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

// NewLoginRequest loads the state and builds a fresh proof for one login,
// of the pending generation when the state has one. In challenge mode it
// first fetches a challenge from Vault through c (without c's token); c
// may be nil otherwise. It holds the state's lock while it reads the state
// and builds the proof, so that it never proves a generation a concurrent
// login is superseding (the agent's proof mode runs beside such logins),
// and changes nothing: whoever sends the request must check the receipt
// with the session and keep what it brings, as Login does.
//
// A read-only state (source.go) takes no lock and proves its current
// generation.
func (a *EntropyAuth) NewLoginRequest(ctx context.Context, c *api.Client) (*LoginRequest, *protocol.ClientSession, error) {
	if !a.readOnly {
		unlock, err := lockExisting(ctx, a.statePath)
		if err != nil {
			return nil, nil, err
		}
		defer unlock()
	}
	s, err := a.ReadState()
	if err != nil {
		return nil, nil, err
	}
	if a.readOnly {
		s = a.readOnlyView(s)
	}
	var lc *api.Client
	if s.ChallengeRequired {
		if lc, err = unauthenticated(c); err != nil {
			return nil, nil, fmt.Errorf("challenge mode: %w", err)
		}
	}
	at, err := a.newAttempt(ctx, lc, a.mount(s), s, s.ServerKeys)
	if err != nil {
		return nil, nil, err
	}
	return at.req, at.session, nil
}

// attempt is one proof and what reading its answer needs.
type attempt struct {
	req        *LoginRequest
	session    *protocol.ClientSession
	generation uint64
}

// newAttempt builds a proof of the generation s proves, sealed to the
// current key of keys; in challenge mode it fetches the challenge through
// lc first.
func (a *EntropyAuth) newAttempt(ctx context.Context, lc *api.Client, mount string, s *State, keys []ServerKey) (*attempt, error) {
	key, err := currentKey(keys)
	if err != nil {
		return nil, err
	}
	gen, entropy, sampling := s.proving()
	in := protocol.ProofInput{
		ServerKey:  key,
		Role:       s.Role,
		ClientID:   s.ClientID,
		Generation: gen,
		Entropy:    entropy,
		Sampling:   sampling,
		Version:    s.proofVersion(),
	}
	if s.ChallengeRequired {
		// The nonce is fixed before the challenge is known: only its
		// commitment goes to the server.
		if in.Nonce, err = protocol.NewNonce(); err != nil {
			return nil, err
		}
		if in.Challenge, err = fetchChallenge(ctx, lc, mount, s.Role, s.ClientID, in.Nonce); err != nil {
			return nil, err
		}
	}
	in.IssuedAt = a.now()
	proof, session, err := protocol.NewProof(in)
	if err != nil {
		return nil, fmt.Errorf("building proof: %w", err)
	}
	return &attempt{
		req:        &LoginRequest{Path: mount + "/login", Role: s.Role, ClientID: s.ClientID, Proof: proof},
		session:    session,
		generation: gen,
	}, nil
}

// fetchChallenge asks the mount's challenge endpoint for a challenge over
// the nonce's commitment.
func fetchChallenge(ctx context.Context, lc *api.Client, mount, role, clientID string, nonce *protocol.Nonce) ([]byte, error) {
	path := mount + "/challenge"
	secret, err := lc.Logical().WriteWithContext(ctx, path, map[string]interface{}{
		"role":             role,
		"client_id":        clientID,
		"nonce_commitment": protocol.EncodeCommitment(nonce.Commitment()),
	})
	if err != nil {
		return nil, fmt.Errorf("fetching a challenge from %s: %w", path, err)
	}
	if secret == nil {
		return nil, fmt.Errorf("fetching a challenge from %s: empty response", path)
	}
	encoded, _ := secret.Data["challenge"].(string)
	ch, err := protocol.ParseChallenge(encoded)
	if err != nil {
		return nil, fmt.Errorf("fetching a challenge from %s: the response holds no valid challenge", path)
	}
	return ch, nil
}
