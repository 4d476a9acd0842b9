package backend

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathRoleRotate(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: rolePattern("/rotate"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "rotate",
			OperationSuffix: "role-clients",
		},
		Fields: roleFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathRoleRotate,
				Summary:  "Make every client of the role rotate its entropy at its next login.",
			},
		},
		HelpSynopsis:    pathRoleRotateHelpSyn,
		HelpDescription: pathRoleRotateHelpDesc,
	}
}

func pathClientRotate(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: clientPattern("/rotate"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "rotate",
			OperationSuffix: "client",
		},
		Fields: clientFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathClientRotate,
				Summary:  "Make the client rotate its entropy at its next login.",
			},
		},
		HelpSynopsis:    pathClientRotateHelpSyn,
		HelpDescription: pathClientRotateHelpDesc,
	}
}

// pathRoleRotate marks the role rather than each client: one write, however
// many clients the role has, and it also catches a pending generation made
// before now, which becomes current with its old creation time and so
// rotates again.
func (b *entropyBackend) pathRoleRotate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, resp := roleName(d)
	if resp != nil {
		return resp, nil
	}
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()

	r, err := b.role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("role %q does not exist", name))
	}
	r.RotateBefore = b.now().UTC()
	if err := b.putRole(ctx, req.Storage, name, r); err != nil {
		return nil, err
	}
	b.Logger().Info("entropy rotation requested for every client of the role", "role", name,
		"rotate_before", r.RotateBefore.Format(time.RFC3339))
	return nil, nil
}

func (b *entropyBackend) pathClientRotate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	c, err := b.updateClient(ctx, req.Storage, role, id, func(c *clientEntry) {
		c.RotateRequested, c.RotateRequestedAt = true, b.now()
	})
	if err != nil {
		return nil, err
	}
	b.Logger().Info("entropy rotation requested for the client", "role", role, "client_id", id, "generation", c.Generation)
	return nil, nil
}

const pathRoleRotateHelpSyn = `Rotate the entropy of every client of the role.`

const pathRoleRotateHelpDesc = `
Every client of the role whose current generation was made before this request
is handed a new generation at its next login, whatever the role's
rotation_period. Clients that do not log in keep their generation until they
do. The previous generation stays valid until the new one has been proven once,
so no client is locked out.
`

const pathClientRotateHelpSyn = `Rotate the client's entropy.`

const pathClientRotateHelpDesc = `
The client is handed a new generation at its next login, whatever the role's
rotation_period. The previous generation stays valid until the new one has been
proven once.
`
