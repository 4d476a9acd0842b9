package backend

import (
	"context"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// maxLockReason bounds the operator's reason: it is stored in the client
// record, returned by reads and written to the server log at every refused
// login.
const maxLockReason = 256

// defaultLockReason is the reason of an operator's lock that gives none.
const defaultLockReason = "locked by an operator"

func pathClientLock(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: clientPattern("/lock"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "lock",
			OperationSuffix: "client",
		},
		Fields: clientFields(map[string]*framework.FieldSchema{
			"duration": {
				Type:        framework.TypeDurationSecond,
				Description: "How long the lock lasts. 0 or absent: until the client is unlocked.",
			},
			"reason": {
				Type:        framework.TypeString,
				Description: "Why the client is locked, for the record and the server log (at most 256 printable characters).",
			},
		}),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathClientLock,
				Summary:  "Lock the client: it can no longer log in, and its tokens no longer renew.",
			},
		},
		HelpSynopsis:    pathClientLockHelpSyn,
		HelpDescription: pathClientLockHelpDesc,
	}
}

func pathClientUnlock(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: clientPattern("/unlock"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "unlock",
			OperationSuffix: "client",
		},
		Fields: clientFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathClientUnlock,
				Summary:  "Unlock the client and forget its failed proofs, lifting every source's lockout.",
			},
		},
		HelpSynopsis:    pathClientUnlockHelpSyn,
		HelpDescription: pathClientUnlockHelpDesc,
	}
}

func (b *entropyBackend) pathClientLock(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	duration := time.Duration(d.Get("duration").(int)) * time.Second
	if duration < 0 {
		return logical.ErrorResponse("duration must not be negative"), nil
	}
	reason := d.Get("reason").(string)
	if !validLockReason(reason) {
		return logical.ErrorResponse("reason must be at most %d printable characters", maxLockReason), nil
	}
	if reason == "" {
		reason = defaultLockReason
	}
	now := b.now().UTC()
	var until time.Time
	if duration > 0 {
		until = now.Add(duration)
	}
	c, err := b.updateClient(ctx, req.Storage, role, id, func(c *clientEntry) {
		c.lock(now, until, reason)
	})
	if err != nil {
		return nil, err
	}
	b.Logger().Info("client locked by an operator", "role", role, "client_id", id, "generation", c.Generation,
		"locked_until", formatTime(until), "reason", reason)
	return nil, nil
}

func (b *entropyBackend) pathClientUnlock(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	// Counters first: even a client that no longer exists may have them.
	b.lockout.clear(role, id)
	c, err := b.updateClient(ctx, req.Storage, role, id, func(c *clientEntry) {
		c.unlock()
	})
	if err != nil {
		return nil, err
	}
	b.Logger().Info("client unlocked by an operator", "role", role, "client_id", id, "generation", c.Generation)
	return nil, nil
}

// validLockReason keeps the reason to one short line of printable text, so
// that it cannot forge or break lines of the server log.
func validLockReason(s string) bool {
	if len(s) > maxLockReason || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// formatTime is RFC 3339 in UTC, or "" for the zero time (never, none).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

const pathClientLockHelpSyn = `Lock a client.`

const pathClientLockHelpDesc = `
A locked client's logins are refused before its proof is looked at, and its
tokens no longer renew. With a duration the lock ends by itself; without one it
lasts until role/<name>/client/<id>/unlock. The optional reason is kept with
the client and logged.

Locking does not revoke tokens the client already holds: revoke them with
"vault token revoke -accessor" or "vault lease revoke -prefix
auth/<mount>/login".
`

const pathClientUnlockHelpSyn = `Unlock a client.`

const pathClientUnlockHelpDesc = `
Lifts an operator's lock or a lock after a detected clone, and forgets the
failed proofs counted against the client, lifting the lockout of every source
(on the node that answers, which holds the counts). After a clone, find out
which holder is genuine first; if in doubt, delete the client and enroll it
again.
`
