package backend

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func pathClientList(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: rolePattern("/client/?"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "clients",
		},
		Fields: roleFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{
				Callback: b.pathClientList,
				Summary:  "List the clients enrolled in a role.",
			},
		},
		HelpSynopsis:    pathClientListHelpSyn,
		HelpDescription: pathClientListHelpDesc,
	}
}

func pathClient(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: clientPattern(""),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "client",
		},
		Fields: clientFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathClientRead,
				Summary:  "Read a client's metadata (never its entropy).",
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback: b.pathClientDelete,
				Summary:  "Delete a client: it can no longer log in, and its tokens can no longer renew.",
			},
		},
		HelpSynopsis:    pathClientHelpSyn,
		HelpDescription: pathClientHelpDesc,
	}
}

// clientNames returns the request's role name and client ID if both are valid.
func clientNames(d *framework.FieldData) (string, string, *logical.Response) {
	role, resp := roleName(d)
	if resp != nil {
		return "", "", resp
	}
	id := d.Get("client_id").(string)
	if err := protocol.ValidName(id); err != nil {
		return "", "", logical.ErrorResponse("invalid client_id: %s", err)
	}
	return role, id, nil
}

func (b *entropyBackend) pathClientList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, resp := roleName(d)
	if resp != nil {
		return resp, nil
	}
	ids, err := req.Storage.List(ctx, clientPrefix+role+"/")
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(ids), nil
}

func (b *entropyBackend) pathClientRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	c, err := b.client(ctx, req.Storage, role, id)
	if err != nil || c == nil {
		return nil, err
	}
	r, err := b.role(ctx, req.Storage, role)
	if err != nil {
		return nil, err
	}
	now := b.now()
	failures, lockedSources := b.lockout.counts(role, id, now)
	data := map[string]interface{}{
		"client_id":     c.ClientID,
		"role":          c.Role,
		"generation":    c.Generation,
		"entropy_size":  c.EntropySize,
		"sample_count":  c.SampleCount,
		"sample_length": c.SampleLength,
		"created_at":    c.CreatedAt.Format(time.RFC3339),
		"expires_at":    formatTime(c.ExpiresAt),
		"expired":       c.expired(now),

		"generation_created_at": formatTime(c.GenerationCreatedAt),
		"pending_generation":    c.PendingGeneration,
		"superseded_generation": c.SupersededGeneration,
		// Proofs of the superseded generation issued no later are stale,
		// later ones clones (docs/protocol.md §14.3).
		"superseded_at": formatTime(c.SupersededAt),
		// When the current generation was first proven (the server's
		// clock), and when the role's generation_overlap stops accepting
		// the superseded one ("" for no overlap).
		"promoted_at":         formatTime(c.PromotedAt),
		"overlap_ends":        overlapEnds(c, r),
		"pending_out_of_band": c.PendingOutOfBand,
		"rotate_requested":    c.RotateRequested,
		// Without its role the client cannot log in, so nothing is due.
		"rotation_due": r != nil && c.rotationDue(r, now),
		// Failed proofs in their sources' current windows and the sources
		// locked out of the client, as this node counts them in memory
		// (lockout.go): neither locks the client itself.
		"failed_logins":  failures,
		"locked_sources": lockedSources,
		// locked is whether a login now would be refused (an operator's
		// lock or a clone's); locked_at, locked_until and lock_reason
		// describe the last lock even once it has run out, until a login
		// or an operator clears it.
		"locked":       c.locked(now),
		"locked_at":    formatTime(c.LockedAt),
		"locked_until": formatTime(c.LockedUntil),
		"lock_reason":  c.LockReason,

		"enrollment_id": c.EnrollmentID,
		"alias_name":    c.AliasName,
		// An orphan cannot log in, and tidy deletes it: its role is gone,
		// or was deleted and created again since it was enrolled.
		"orphaned": r == nil || !c.boundTo(r),
	}
	return &logical.Response{Data: data}, nil
}

func (b *entropyBackend) pathClientDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	if err := b.deleteClient(ctx, req.Storage, role, id); err != nil {
		return nil, err
	}
	b.lockout.clear(role, id) // a client enrolled again under the name starts afresh
	b.Logger().Info("client deleted", "role", role, "client_id", id)
	return nil, nil
}

const pathClientListHelpSyn = `List the clients enrolled in a role.`

const pathClientListHelpDesc = `Lists the IDs of the role's clients.`

const pathClientHelpSyn = `Read or delete an enrolled client.`

const pathClientHelpDesc = `
Reading returns the client's metadata: its generation, entropy size, sampling
parameters, creation and expiry times; its rotation state (when the current
generation was made, the pending generation handed out but not yet proven, the
superseded one kept to detect clones, whether a rotation is requested or due);
its failed proofs (failed_logins: digest failures in the current windows of
the sources they came from; locked_sources: sources locked out of it after
lockout_threshold of them; both counted in memory on the node that answers,
forgotten at a restart, and neither locks the client); and its lock (an
operator's or a clone's: whether it is locked, since and until when, and
why). The entropy itself is never returned.

Deleting a client removes it and its entropy: it can no longer log in, and
renewal of the tokens it already holds is refused. To end those tokens at once,
revoke them by accessor or with sys/leases/revoke-prefix on the login path.
`

func overlapEnds(c *clientEntry, r *roleEntry) string {
	if r == nil {
		return ""
	}
	return formatTime(c.overlapEnds(r))
}
