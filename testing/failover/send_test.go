package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// outcome classifies what a node answered to one login request.
type outcome int

const (
	// accepted: 200 with a token.
	accepted outcome = iota
	// window: the named 400 of a node that cannot tell whether the proof
	// was accepted before it became active ("make a new proof").
	window
	// refused: Vault's generic 403.
	refused
	// unavailable: no answer (connection refused or reset, the killed
	// node) or a 5xx/429 while the cluster elects a leader.
	unavailable
	// unexpected: anything else (another 400, a 200 without a token).
	unexpected
)

var outcomeNames = [...]string{"accepted", "window", "refused", "unavailable", "unexpected"}

func (o outcome) String() string { return outcomeNames[o] }

// answer is a node's answer to one login request.
type answer struct {
	outcome outcome
	status  int
	receipt string
	// detail says what went wrong for unavailable and unexpected
	// answers: Vault's error text or the transport error (never a token
	// or a proof).
	detail string
	// refusedConn: the node's port refused the connection (it is down).
	refusedConn bool
}

// loginResponse is the part of Vault's JSON response a login needs.
type loginResponse struct {
	Errors []string `json:"errors"`
	Auth   *struct {
		ClientToken string `json:"client_token"`
	} `json:"auth"`
	Data struct {
		Receipt string `json:"receipt"`
	} `json:"data"`
}

// send posts one login request to the node at addr, once: no retry, as a
// retried proof is a replay.
func send(ctx context.Context, hc *http.Client, addr string, lr *client.LoginRequest) answer {
	body, err := json.Marshal(lr.Data())
	if err != nil {
		return answer{outcome: unexpected, detail: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+"/v1/"+strings.TrimPrefix(lr.Path, "/"), bytes.NewReader(body))
	if err != nil {
		return answer{outcome: unexpected, detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{outcome: unavailable, detail: err.Error(), refusedConn: errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{outcome: unavailable, status: resp.StatusCode, detail: err.Error()}
	}
	var r loginResponse
	_ = json.Unmarshal(raw, &r) // an empty or non-JSON body leaves r empty
	a := answer{status: resp.StatusCode, detail: strings.Join(r.Errors, "; ")}
	hasToken := r.Auth != nil && r.Auth.ClientToken != ""
	switch {
	case resp.StatusCode == http.StatusOK && hasToken:
		a.outcome, a.receipt = accepted, r.Data.Receipt
	case hasToken:
		// A token with any other status would be a token for a refused
		// login: never expected.
		a.outcome, a.detail = unexpected, "a token came with status "+resp.Status
	case resp.StatusCode == http.StatusForbidden:
		a.outcome = refused
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(a.detail, protocol.ErrProofPredatesWindow.Error()):
		a.outcome = window
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		a.outcome = unavailable
	default:
		a.outcome = unexpected
	}
	return a
}
