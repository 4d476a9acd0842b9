package backend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"

	uuid "github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// bundleVersion is the version of the enrollment bundle's layout.
const bundleVersion = 1

func pathEnroll(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: rolePattern("/enroll"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "enroll",
			OperationSuffix: "client",
		},
		Fields: roleFields(map[string]*framework.FieldSchema{
			"client_id": {
				Type:        framework.TypeString,
				Description: "Name for the new client: lower-case letters, digits, '.', '_' and '-'. Generated if empty.",
			},
			"keep_identity": {
				Type: framework.TypeBool,
				Description: "Give the client the identity alias <role>/<client_id>, which every enrollment of this client_id made with keep_identity shares, " +
					"so that it keeps their entity. " +
					"By default the alias is <role>/<client_id>/<enrollment_id>: a client enrolled again after deletion gets a fresh entity.",
				Default: false,
			},
		}),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathEnroll,
				Summary:  "Enroll a new client and return its bundle (deliver it response-wrapped).",
			},
		},
		HelpSynopsis:    pathEnrollHelpSyn,
		HelpDescription: pathEnrollHelpDesc,
	}
}

func (b *entropyBackend) pathEnroll(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, resp := roleName(d)
	if resp != nil {
		return resp, nil
	}
	id := d.Get("client_id").(string)
	if id == "" {
		generated, err := uuid.GenerateUUID()
		if err != nil {
			return nil, err
		}
		id = generated
	} else if err := protocol.ValidName(id); err != nil {
		return logical.ErrorResponse("invalid client_id: %s", err), nil
	}

	// Hold the role's read lock so that the role cannot be deleted between
	// reading it and storing the client.
	roleLock := b.roleLock(role)
	roleLock.RLock()
	defer roleLock.RUnlock()
	r, err := b.role(ctx, req.Storage, role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return logical.ErrorResponse("role %q does not exist", role), nil
	}
	kr, err := b.keyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}

	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()
	existing, err := b.client(ctx, req.Storage, role, id)
	if err != nil {
		return nil, err
	}
	if existing != nil && existing.boundTo(r) {
		return logical.ErrorResponse("client %q already exists in role %q; delete it first to enroll it again", id, role), nil
	}
	if existing != nil {
		// Left by an interrupted deletion of an earlier role of this name:
		// it cannot log in, and tidy would delete it.
		if err := b.nonLockedDeleteClient(ctx, req.Storage, role, id); err != nil {
			return nil, err
		}
		b.Logger().Info("client deleted", "role", role, "client_id", id, "generation", existing.Generation, "reason", "enrolled under an earlier instance of the role")
	}
	enrollment, err := newBindingID()
	if err != nil {
		return nil, err
	}

	entropy := make([]byte, r.EntropySize)
	if _, err := rand.Read(entropy); err != nil {
		return nil, err
	}
	now := b.now().UTC()
	c := &clientEntry{
		ClientID:   id,
		Role:       role,
		Generation: 1,

		EnrollmentID:   enrollment,
		RoleInstanceID: r.InstanceID,
		AliasName:      enrollmentAliasName(role, id, enrollment),

		EntropySize:  r.EntropySize,
		SampleCount:  r.SampleCount,
		SampleLength: r.SampleLength,
		CreatedAt:    now,

		GenerationCreatedAt: now,

		entropy: newGenerationEntropy(entropy),
	}
	if d.Get("keep_identity").(bool) {
		c.AliasName = sharedAliasName(role, id)
	}
	if r.ClientTTL > 0 {
		c.ExpiresAt = now.Add(r.ClientTTL)
	}
	if err := b.putClient(ctx, req.Storage, c); err != nil {
		return nil, err
	}
	b.Logger().Info("client enrolled", "role", role, "client_id", id, "generation", c.Generation, "enrollment_id", c.EnrollmentID, "alias_name", c.AliasName)

	return bundleResponse(req, role, r, kr, id, c.Generation, entropy, protocol.Sampling{Count: c.SampleCount, Length: c.SampleLength}, "the workload"), nil
}

// bundleResponse is the enrollment bundle (docs/protocol.md §18.1) of one
// generation of client id of role r (named role), as enrollment and the out-of-band
// issue endpoint answer it, with a warning unless the response is
// wrapped; reader names who alone should see it.
func bundleResponse(req *logical.Request, role string, r *roleEntry, kr *keyring, id string, generation uint64, entropy []byte, s protocol.Sampling, reader string) *logical.Response {
	resp := &logical.Response{Data: map[string]interface{}{
		"bundle_version": bundleVersion,
		"mount_path":     strings.TrimSuffix(req.MountPoint, "/"),
		"role":           role,
		"client_id":      id,
		"generation":     generation,
		"entropy":        base64.StdEncoding.EncodeToString(entropy),
		"sample_count":   s.Count,
		"sample_length":  s.Length,
		"server_keys":    kr.publicKeys(),

		"challenge_required": r.ChallengeRequired,
		// The newest proof version this server reads: a client builds its
		// proofs in it (docs/protocol.md §18.1).
		"proof_version": int(protocol.Version),
	}}
	if req.WrapInfo == nil || req.WrapInfo.TTL == 0 {
		resp.AddWarning("This bundle holds the client's secret entropy. Deliver it response-wrapped (vault write -wrap-ttl=...) so that only " + reader + " sees it.")
	}
	return resp
}

const pathEnrollHelpSyn = `Enroll a new client in the role and return its bundle.`

const pathEnrollHelpDesc = `
Creates a client (with a generated ID, or the given client_id), generates its
entropy with a cryptographic random generator and stores it. The response is
the bundle the client needs: mount path, role, client_id, generation, entropy,
sampling parameters, the server's public keys and the newest proof version
the server reads.

Each enrollment gets a random enrollment_id, and its logins the identity alias
<role>/<client_id>/<enrollment_id>: a client deleted and enrolled again gets a
fresh entity, and the deleted client's tokens do not renew. keep_identity=true
gives the alias <role>/<client_id> instead, shared by every enrollment of this
client_id made with keep_identity, so that the client keeps their entity.

This is the secure introduction step. The entropy appears in this response and
nowhere else, so request it response-wrapped and hand only the wrapping token
to the workload, which unwraps it once, reading the token on stdin (a token on
the command line would show in the process list):

    vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/web/enroll
    echo "$WRAPPING_TOKEN" | vault-entropy bootstrap -wrap-token=-

Before unwrapping, vault-entropy checks that the token was made by this
endpoint (its creation_path), so a token swapped for one made with
sys/wrapping/wrap is refused.
`
