package backend

import (
	"context"
	"errors"
	"time"

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

// pathKeysRead is unauthenticated: it reads the config and the keyring
// through the cache and writes nothing (the keys are made when the mount is
// initialized).
func (b *entropyBackend) pathKeysRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.cachedConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	kr, err := b.publishedKeyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return keysResponse(kr, b.now(), c.KeyGracePeriod), nil
}

func (b *entropyBackend) pathKeysRotate(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	kr, err := b.rotateKeys(ctx, req.Storage)
	if errors.Is(err, errKeyringFull) {
		return logical.ErrorResponse(err.Error()), nil
	}
	if err != nil {
		return nil, err
	}
	b.Logger().Info("server key rotated by an operator", "key_id", kr.Keys[0].ID)
	return keysResponse(kr, b.now(), c.KeyGracePeriod), nil
}

// keysResponse publishes the keys accepted at now, current first, with
// each key's retirement: a client can tell how long a key it holds will
// still be accepted. A key past its grace period that the periodic
// function has not dropped yet is not listed.
func keysResponse(kr *keyring, now time.Time, grace time.Duration) *logical.Response {
	kr = kr.accepted(now, grace)
	keys := kr.publicKeys()
	for i := range keys {
		keys[i]["retired_at"] = formatTime(kr.Keys[i].RetiredAt)
		keys[i]["accepted_until"] = formatTime(kr.Keys[i].acceptedUntil(grace))
	}
	return &logical.Response{Data: map[string]interface{}{
		"keys":           keys,
		"current_key_id": kr.Keys[0].ID,
		"grace_period":   int64(grace.Seconds()),
	}}
}

const pathKeysHelpSyn = `The server's public keys, current first.`

const pathKeysHelpDesc = `
Unauthenticated, like a JWKS: clients seal their proofs to the current key.
The list holds exactly one current key, first, and then every retired key
still accepted, newest first. Each key has a key_id (derived from its suite and
public key bytes), a suite, the public key (base64), its creation time, whether
it is current, and for a retired key when it was retired (retired_at) and until
when proofs sealed to it are accepted (accepted_until; "" for the current key).
A listed key stays accepted until its accepted_until. grace_period is the
config's key_grace_period in seconds. Reading the keys writes nothing: they are
created when the mount is initialized.
`

const pathKeysRotateHelpSyn = `Create a new current server key.`

const pathKeysRotateHelpDesc = `
Creates a key of the configured suite and makes it current. Every retired key
stays valid until its key_grace_period ends, so clients that have not fetched
the new key keep working (their receipts carry the new keys); keys past their
grace period are dropped. The keyring holds at most 32 keys: a rotation that
would need a 33rd is refused, and says when the oldest key's grace ends.
`
