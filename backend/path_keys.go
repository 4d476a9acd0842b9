package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathKeys(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "keys$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathKeysRead,
				Summary:  "Read the server's public keys (unauthenticated).",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationSuffix: "public-keys",
				},
			},
		},
		HelpSynopsis:    pathKeysHelpSyn,
		HelpDescription: pathKeysHelpDesc,
	}
}

func pathKeysRotate(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "keys/rotate$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "rotate",
			OperationSuffix: "keys",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathKeysRotate,
				Summary:  "Create a new current server key.",
			},
		},
		HelpSynopsis:    pathKeysRotateHelpSyn,
		HelpDescription: pathKeysRotateHelpDesc,
	}
}

func (b *entropyBackend) pathKeysRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	kr, err := b.keyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return keysResponse(kr), nil
}

func (b *entropyBackend) pathKeysRotate(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	kr, err := b.rotateKeys(ctx, req.Storage, c.suite())
	if err != nil {
		return nil, err
	}
	return keysResponse(kr), nil
}

func keysResponse(kr *keyring) *logical.Response {
	return &logical.Response{Data: map[string]interface{}{
		"keys":           kr.publicKeys(),
		"current_key_id": kr.Keys[0].ID,
	}}
}

const pathKeysHelpSyn = `The server's public keys, current first.`

const pathKeysHelpDesc = `
Unauthenticated, like a JWKS: clients seal their proofs to the current key.
Each key has a key_id (derived from its suite and public key bytes), a suite,
the public key (base64) and its creation time.
`

const pathKeysRotateHelpSyn = `Create a new current server key.`

const pathKeysRotateHelpDesc = `
Creates a key of the configured suite and makes it current. The previous key
stays valid, so clients that have not fetched the new key keep working; keys
older than that are dropped.
`
