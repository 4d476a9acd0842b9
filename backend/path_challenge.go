package backend

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// challengeTTL is how long a challenge may be used. A login follows its
// challenge at once, so a minute covers slow links and sampling without
// giving a thief time to collect challenges for later.
const challengeTTL = 60 * time.Second

func pathChallenge(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "challenge$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "request",
			OperationSuffix: "challenge",
		},
		Fields: clientRequestFields(map[string]*framework.FieldSchema{
			"nonce_commitment": {
				Type:        framework.TypeString,
				Description: "The commitment to the nonce of the coming proof: 32 bytes, unpadded base64url.",
			},
		}),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathChallenge,
				Summary:  "Get a challenge for one login in challenge mode (unauthenticated).",
			},
		},
		HelpSynopsis:    pathChallengeHelpSyn,
		HelpDescription: pathChallengeHelpDesc,
	}
}

// pathChallenge MACs a challenge for the given names and commitment. It
// reads neither the role nor the client: the answer is the same whether or
// not they exist, so the endpoint tells an unauthenticated caller nothing,
// and it writes nothing but the MAC key, once.
func (b *entropyBackend) pathChallenge(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role := d.Get("role").(string)
	if err := protocol.ValidName(role); err != nil {
		return logical.ErrorResponse("invalid role: %s", err), nil
	}
	clientID := d.Get("client_id").(string)
	if err := protocol.ValidName(clientID); err != nil {
		return logical.ErrorResponse("invalid client_id: %s", err), nil
	}
	commitment, err := protocol.ParseCommitment(d.Get("nonce_commitment").(string))
	if err != nil {
		return logical.ErrorResponse("invalid nonce_commitment: want %d bytes, unpadded base64url", sha256.Size), nil
	}

	key, err := b.challengeKey(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	// A challenge carries whole seconds: truncate here so that expires_at
	// says exactly what the challenge does.
	expiresAt := b.now().Add(challengeTTL).Truncate(time.Second).UTC()
	challenge, err := protocol.NewChallenge(key, role, clientID, commitment, expiresAt)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"challenge":  protocol.EncodeChallenge(challenge),
		"expires_at": expiresAt.Format(time.RFC3339),
	}}, nil
}

const pathChallengeHelpSyn = `Get a challenge for one login in challenge mode.`

const pathChallengeHelpDesc = `
Unauthenticated. A client of a role with challenge_required first commits to
the nonce of its next proof (nonce_commitment) and asks for a challenge; the
entropy ranges its proof samples are then derived from the nonce and the
challenge together, so that the server, not the client, decides what must be
proven. The challenge is a MAC over its expiry, random bytes, the role, the
client_id and the commitment: the server keeps no state for it and looks up
neither the role nor the client. It expires after 60 seconds.
`
