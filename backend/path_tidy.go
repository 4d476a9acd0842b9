package backend

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathTidy(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "tidy$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "tidy",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathTidy,
				Summary:  "Start a tidy in the background: abandoned entropy, expired clients.",
				Responses: map[int][]framework.Response{
					http.StatusAccepted: {{Description: http.StatusText(http.StatusAccepted)}},
				},
			},
		},
		HelpSynopsis:    pathTidyHelpSyn,
		HelpDescription: pathTidyHelpDesc,
	}
}

func pathTidyStatus(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "tidy/status$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "tidy",
			OperationSuffix: "status",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathTidyStatus,
				Summary:  "Report the last or current tidy.",
			},
		},
		HelpSynopsis:    pathTidyStatusHelpSyn,
		HelpDescription: pathTidyStatusHelpDesc,
	}
}

func (b *entropyBackend) pathTidy(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	// Vault forwards a request answered with ErrReadOnly to a node that can
	// write this mount's storage.
	if !b.WriteSafeReplicationState() {
		return nil, logical.ErrReadOnly
	}
	if !b.tidyState.running.CompareAndSwap(false, true) {
		resp := &logical.Response{}
		resp.AddWarning("A tidy is already running; see tidy/status.")
		return resp, nil
	}
	// The tidy outlives the request: it runs on the backend's context,
	// which ends only when the mount goes away.
	s := req.Storage
	go func() {
		defer b.tidyState.running.Store(false)
		_, _ = b.nonLockedTidy(b.bgCtx, s) // the outcome is in tidy/status and the log
	}()
	resp := &logical.Response{}
	resp.AddWarning("Tidy started; see tidy/status and the server log for its outcome.")
	return logical.RespondWithStatusCode(resp, req, http.StatusAccepted)
}

func (b *entropyBackend) pathTidyStatus(_ context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st := b.tidyState.getStatus()
	return &logical.Response{Data: map[string]interface{}{
		"state":           st.State,
		"started_at":      formatTime(st.StartedAt),
		"finished_at":     formatTime(st.FinishedAt),
		"entropy_deleted": st.Result.EntropyDeleted,
		"clients_deleted": st.Result.ClientsDeleted,
		"error":           st.Error,
	}}, nil
}

const pathTidyHelpSyn = `Remove abandoned entropy and expired clients.`

const pathTidyHelpDesc = `
Starts a tidy in the background and returns at once (202); only one tidy runs
at a time. It removes entropy generations that no client uses (neither
current, nor pending, nor superseded: for example left by a server that
stopped during a rotation), and clients that have expired or whose role was
deleted. Logins go on meanwhile.

The backend also tidies by itself, once an hour, on the active node only.
`

const pathTidyStatusHelpSyn = `The last or current tidy.`

const pathTidyStatusHelpDesc = `
state is idle (no tidy since the plugin started on this node), running,
finished or failed; started_at and finished_at are RFC 3339 times; the counts
say how many abandoned entropy generations and clients the tidy removed; error
is set when it failed.
`
