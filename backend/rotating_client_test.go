package backend

import (
	"bytes"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// rotatingClient is a testClient that keeps what its receipts hand it, the
// way the client library does: it proves the pending generation when it
// holds one.
type rotatingClient struct {
	*testClient
	pending *protocol.Rotation
	clock   *testClock
	logs    *bytes.Buffer
	// from is the remote address its logins come from; empty: 127.0.0.1.
	from string
}

func (c *rotatingClient) proofInput() protocol.ProofInput {
	in := protocol.ProofInput{
		ServerKey: c.key, Role: c.role, ClientID: c.id,
		Generation: c.generation, Entropy: c.entropy, Sampling: c.sampling,
		IssuedAt: c.clock.now(), Version: c.version,
	}
	if p := c.pending; p != nil {
		in.Generation, in.Entropy, in.Sampling = p.Generation, p.Entropy, p.Sampling()
	}
	return in
}

// attempt sends one login and opens its receipt; it changes nothing in the
// client (as a client that crashes before saving).
func (c *rotatingClient) attempt(t *testing.T, b *entropyBackend, s logical.Storage) (*logical.Response, error, *protocol.Receipt, protocol.ProofInput) {
	t.Helper()
	in := c.proofInput()
	proof, session, err := protocol.NewProof(in)
	if err != nil {
		t.Fatal(err)
	}
	from := c.from
	if from == "" {
		from = "127.0.0.1"
	}
	resp, err := requestFrom(t, b, s, from, logical.UpdateOperation, "login", map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof})
	if err != nil || resp == nil || resp.IsError() {
		return resp, err, nil, in
	}
	r, oerr := session.OpenReceipt(resp.Data["receipt"].(string))
	if oerr != nil {
		t.Fatalf("the receipt does not open: %v", oerr)
	}
	if resp.Auth.Metadata["login_id"] != r.LoginID || r.LoginID != session.LoginID() {
		t.Fatalf("login_id: token %q, receipt %q, session %q", resp.Auth.Metadata["login_id"], r.LoginID, session.LoginID())
	}
	return resp, nil, r, in
}

// save applies a receipt the way the client library does.
func (c *rotatingClient) save(in protocol.ProofInput, r *protocol.Receipt) {
	if c.pending != nil && in.Generation == c.pending.Generation {
		c.generation, c.entropy, c.sampling = c.pending.Generation, c.pending.Entropy, c.pending.Sampling()
		c.pending = nil
	}
	if r.Rotation != nil {
		c.pending = r.Rotation
	}
	for _, k := range r.ServerKeys {
		if k.Current {
			pk, err := k.Parse()
			if err != nil {
				panic(err)
			}
			c.key = pk
		}
	}
}

func (c *rotatingClient) login(t *testing.T, b *entropyBackend, s logical.Storage) *protocol.Receipt {
	t.Helper()
	resp, err, r, in := c.attempt(t, b, s)
	if r == nil {
		t.Fatalf("login of %s at generation %d refused: %s", c.id, in.Generation, outcome(resp, err))
	}
	c.save(in, r)
	return r
}

func (c *rotatingClient) mustBeRefused(t *testing.T, b *entropyBackend, s logical.Storage) {
	t.Helper()
	resp, err, r, in := c.attempt(t, b, s)
	if r != nil || err != logical.ErrPermissionDenied {
		t.Fatalf("login of %s at generation %d: %s, want permission denied", c.id, in.Generation, outcome(resp, err))
	}
}

func (c *rotatingClient) copy() *rotatingClient {
	cc := *c
	tc := *c.testClient
	cc.testClient = &tc
	return &cc
}

func setupRotation(t *testing.T, roleData map[string]interface{}) (*entropyBackend, logical.Storage, *rotatingClient) {
	t.Helper()
	b, s, logs := getLoggedTestBackend(t)
	clock := useClock(b)
	data := map[string]interface{}{"token_policies": "web-read", "rotation_period": "10m"}
	for k, v := range roleData {
		data[k] = v
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", data)
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
	return b, s, &rotatingClient{testClient: c, clock: clock, logs: logs}
}
