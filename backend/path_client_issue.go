package backend

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Rotation at deploy time: a workload that cannot write its state (a CI
// job, a serverless function) cannot take up a generation handed out in
// band. The deploy pipeline, the trusted orchestrator, asks for the next
// generation here instead, out of band, and ships it with the new
// deployment. The client keeps its ID, enrollment, alias and entity; the
// generation is pending until the new deployment first proves it, and the
// role's generation_overlap then keeps the previous one valid while the old
// deployment winds down.
//
// A pending generation that already exists (handed out in band at a login
// once the rotation period ran out) is issued again rather than replaced:
// a writable holder of the client that saved it proves it, and is not
// locked out; a read-only fleet never saved it, and the new deployment
// takes it up. From then on it is out of band: no login is handed it.

func pathClientIssue(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: clientPattern("/issue"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "issue",
			OperationSuffix: "client-generation",
		},
		Fields: clientFields(nil),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathClientIssue,
				Summary:  "Issue the client's next entropy generation out of band, for a deploy pipeline (deliver it response-wrapped).",
			},
		},
		HelpSynopsis:    pathClientIssueHelpSyn,
		HelpDescription: pathClientIssueHelpDesc,
	}
}

func (b *entropyBackend) pathClientIssue(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	role, id, resp := clientNames(d)
	if resp != nil {
		return resp, nil
	}
	// The role's read lock keeps the role as it is while the client is
	// written, as enrollment does.
	roleLock := b.roleLock(role)
	roleLock.RLock()
	defer roleLock.RUnlock()
	r, err := b.role(ctx, req.Storage, role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("role %q does not exist", role))
	}
	kr, err := b.keyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}

	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()
	c, err := b.client(ctx, req.Storage, role, id)
	if err != nil {
		return nil, err
	}
	now := b.now().UTC()
	switch {
	case c == nil || !c.boundTo(r):
		return nil, errClientNotFound(role, id)
	case c.expired(now):
		return logical.ErrorResponse("client %q has expired; enroll it again", id), nil
	case c.locked(now):
		return logical.ErrorResponse("client %q is locked (%s); unlock it before issuing it a generation", id, c.LockReason), nil
	case c.PendingGeneration == 0 && c.inOverlap(r, now):
		// Promoting a new generation now would drop generation
		// SupersededGeneration while copies of the previous deployment may
		// still prove it, making each of them a clone.
		return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf(
			"generation %d's generation_overlap runs until %s: issuing generation %d now would make copies still proving generation %d clones once it is proven; retry after then",
			c.SupersededGeneration, c.overlapEnds(r).Format(time.RFC3339), c.Generation+1, c.SupersededGeneration))
	case c.PendingGeneration == 0 && c.Generation >= protocol.MaxGeneration:
		return logical.ErrorResponse("client %q is at the last generation (%d); enroll it again", id, c.Generation), nil
	}

	reissued := c.PendingGeneration != 0 && c.pendingEntropy != nil
	if !reissued {
		if err := c.issuePending(r, now); err != nil {
			return nil, err
		}
	}
	if !reissued || !c.PendingOutOfBand {
		c.PendingOutOfBand = true
		if err := b.putClient(ctx, req.Storage, c); err != nil {
			return nil, err
		}
	}
	b.Logger().Info("entropy generation issued out of band", "role", role, "client_id", id,
		"generation", c.PendingGeneration, "current_generation", c.Generation, "reissued_pending", reissued)

	return bundleResponse(req, role, r, kr, id, c.PendingGeneration, c.pendingEntropy.raw(),
		protocol.Sampling{Count: c.PendingSampleCount, Length: c.PendingSampleLength}, "the deploy pipeline"), nil
}

const pathClientIssueHelpSyn = `Issue the client's next entropy generation out of band, for a deploy pipeline.`

const pathClientIssueHelpDesc = `
For a client whose workload cannot write its state (a CI job, a serverless
function): the deploy pipeline issues the next generation here and ships it
with the new deployment. The response is a bundle in the enrollment format
(bundle_version 1) for the same client ID, alias and entity, at the next
generation; request it response-wrapped and turn it into the workload's state:

    vault write -wrap-ttl=5m -field=wrapping_token -f auth/entropy/role/ci/client/job/issue \
      | vault-entropy bootstrap -wrap-token=- -encode

The generation is pending until the new deployment first proves it; no login
is handed it. The current generation stays valid until then, and for the
role's generation_overlap after. A pending generation handed out at a login
(the rotation period ran out) is issued again, not replaced, so that a client
that saved it is not locked out. Refused for a locked or expired client, and
(409) while the previous generation's overlap still runs.
`
