package backend

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Keys of the token metadata and of the auth's internal data.
const (
	metaRole       = "role"
	metaClientID   = "client_id"
	metaGeneration = "generation"
	metaLoginID    = "login_id"
)

func pathLogin(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "login$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "login",
		},
		Fields: clientRequestFields(map[string]*framework.FieldSchema{
			"proof": {
				Type:        framework.TypeString,
				Description: "The entropy proof for this login, as printed by `vault-entropy proof`.",
			},
			"jwt": {
				Type: framework.TypeString,
				Description: "The entropy proof, in place of proof and client_id (the client ID is read from the proof), " +
					"surrounding whitespace ignored: the shape Vault Agent's jwt auto-auth method sends. Not a JWT.",
			},
		}),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathLogin,
				// Accepted nonces live in the memory of the node that
				// writes the mount's storage (nonce.go), and Vault
				// forwards a request refused with ErrReadOnly to it: a
				// performance standby (Vault Enterprise, untested here)
				// hands logins on, refused by the framework with the
				// replication state it reads for every request anyway;
				// community standbys forward every request by themselves.
				// Performance secondaries: pathLogin.
				ForwardPerformanceStandby: true,
				Summary:                   "Log in with an entropy proof.",
			},
			logical.AliasLookaheadOperation: &framework.PathOperation{
				Callback: b.pathLoginAliasLookahead,
			},
			logical.ResolveRoleOperation: &framework.PathOperation{
				Callback: b.pathLoginResolveRole,
			},
		},
		HelpSynopsis:    pathLoginHelpSyn,
		HelpDescription: pathLoginHelpDesc,
	}
}

// asciiSpace is the white space trimmed from a jwt (docs/protocol.md §8.1):
// ASCII only, as the spec says; strings.TrimSpace would also remove
// Unicode spaces.
const asciiSpace = " \t\n\v\f\r"

// loginRequest is a login's fields, present but not yet checked.
type loginRequest struct {
	role, clientID, proof string
	// env is the parsed proof when reading the client ID from a jwt
	// already parsed it, so that verification does not parse it again.
	env *protocol.Envelope
}

// parseLoginRequest reads a login's fields in either shape: role,
// client_id and proof, or role and jwt (what Vault Agent's jwt method
// sends, from a file vault-entropy writes), where jwt is a proof. The
// client ID of the second shape comes from the proof's clear header;
// nothing in it is trusted before the proof verifies, which also checks
// the header against the role and client ID used here.
func parseLoginRequest(d *framework.FieldData) (*loginRequest, *logical.Response) {
	lr := &loginRequest{
		role:     d.Get("role").(string),
		clientID: d.Get("client_id").(string),
		proof:    d.Get("proof").(string),
	}
	if jwt := d.Get("jwt").(string); jwt != "" {
		if lr.proof != "" {
			return nil, logical.ErrorResponse("give either proof or jwt, not both")
		}
		lr.proof = strings.Trim(jwt, asciiSpace)
		if lr.clientID == "" {
			env, err := protocol.ParseProof(lr.proof)
			if err != nil {
				return nil, logical.ErrorResponse("jwt is not an entropy proof")
			}
			lr.clientID, lr.env = env.Header.ClientID, env
		}
	}
	switch {
	case lr.role == "":
		return nil, logical.ErrorResponse("missing role")
	case lr.clientID == "":
		return nil, logical.ErrorResponse("missing client_id")
	case lr.proof == "":
		return nil, logical.ErrorResponse("missing proof")
	}
	return lr, nil
}

// pathLoginAliasLookahead answers the alias name a login would get, which
// depends on the client's enrollment (binding.go).
func (b *entropyBackend) pathLoginAliasLookahead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	lr, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	name, err := b.loginAliasName(ctx, req.Storage, lr.role, lr.clientID)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Auth: &logical.Auth{
		Alias: &logical.Alias{Name: name},
	}}, nil
}

func (b *entropyBackend) pathLoginResolveRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	lr, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	if protocol.ValidName(lr.role) != nil {
		return nil, logical.ErrPermissionDenied
	}
	// Vault resolves the role of every login (for role-based quotas), a
	// round trip to this plugin before the login itself: from the cache,
	// it costs no second round trip back for a storage read.
	r, err := b.cachedRole(ctx, req.Storage, lr.role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.ErrPermissionDenied
	}
	return logical.ResolveRoleResponse(lr.role)
}

func (b *entropyBackend) pathLogin(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if b.replicatedSecondary() {
		return nil, logical.ErrReadOnly
	}
	in, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	l := b.newLogin(ctx, req, in)
	receipt, err := b.login(l)
	if err != nil {
		return b.refused(l, err)
	}
	sealed, err := l.claims.SealReceiptKeyed(receipt, l.entropy.key())
	if err != nil {
		return nil, err
	}
	gen := strconv.FormatUint(l.claims.Generation(), 10)
	auth := &logical.Auth{
		InternalData: map[string]interface{}{
			metaRole:     in.role,
			metaClientID: in.clientID,
			// What renewal checks the token is still bound to.
			metaEnrollmentID:   l.client.EnrollmentID,
			metaRoleInstanceID: l.role.InstanceID,
		},
		Metadata: map[string]string{
			metaRole:       in.role,
			metaClientID:   in.clientID,
			metaGeneration: gen,
			metaLoginID:    l.claims.LoginID(),
		},
		DisplayName: in.role + "-" + in.clientID,
		Alias: &logical.Alias{
			Name: l.client.AliasName,
			Metadata: map[string]string{
				metaRole:     in.role,
				metaClientID: in.clientID,
			},
		},
	}
	l.role.PopulateTokenAuth(auth)
	// Off by default: a plugin's log lines all travel to Vault, which
	// parses each before it applies its own level (docs/performance.md).
	if l.config.LogAcceptedLogins {
		b.Logger().Info("login accepted", "role", in.role, "client_id", in.clientID, "generation", gen,
			"login_id", l.claims.LoginID(), "remote_addr", l.remoteAddr)
	}
	return &logical.Response{
		Auth: auth,
		// Sealed for the client alone; audit devices HMAC it like any
		// response string.
		Data: map[string]interface{}{"receipt": sealed},
	}, nil
}

// refused answers a login that failed: a fault as a fault, a refusal as
// "permission denied" with its reason in the server log. Three refusals
// are named, because they tell an honest client what to do and tell
// anyone else nothing about the client: a key that is no longer accepted
// is public knowledge, and "challenge required" and "make a new proof" are
// said only after the proof has verified.
func (b *entropyBackend) refused(l *login, err error) (*logical.Response, error) {
	var refusal *loginRefusal
	if !errors.As(err, &refusal) {
		return nil, err
	}
	// The names are logged only when they are well-formed, so that nothing
	// a caller sends reaches the log unchecked; no proof, digest or
	// entropy is ever logged.
	role, clientID := l.in.role, l.in.clientID
	if protocol.ValidName(role) != nil {
		role = "(invalid)"
	}
	if protocol.ValidName(clientID) != nil {
		clientID = "(invalid)"
	}
	b.Logger().Warn("login refused", "role", role, "client_id", clientID, "remote_addr", l.remoteAddr, "reason", refusal.reason.Error())
	if named := protocol.NamedRefusal(err); named != nil {
		return logical.ErrorResponse(named.Error()), nil
	}
	return nil, logical.ErrPermissionDenied
}

// pathLoginRenew re-checks what login checked that can change: the role and
// the client still exist and are the instance and enrollment the token was
// issued for, the client has neither expired nor been locked, and the
// role's policies are the ones the token was issued with. A failed check is
// a refusal, not a fault: permission denied (403) to the caller, the reason
// in the server log.
func (b *entropyBackend) pathLoginRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Auth == nil {
		return nil, errors.New("request auth was nil")
	}
	role, _ := req.Auth.InternalData[metaRole].(string)
	clientID, _ := req.Auth.InternalData[metaClientID].(string)
	if role == "" || clientID == "" {
		return nil, errors.New("token has no role or client_id")
	}
	refuse := func(reason string) (*logical.Response, error) {
		b.Logger().Warn("renewal refused", "role", role, "client_id", clientID, "reason", reason)
		return nil, logical.ErrPermissionDenied
	}
	r, err := b.role(ctx, req.Storage, role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return refuse(renewRoleGone)
	}
	c, err := b.client(ctx, req.Storage, role, clientID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return refuse(renewClientGone)
	}
	if !tokenBoundTo(req.Auth.InternalData, r, c) {
		// Deleted and enrolled again, or its role deleted and created again:
		// perhaps a stolen token outliving the theft response.
		return refuse(renewOtherEnrollment)
	}
	now := b.now()
	if c.expired(now) {
		return refuse(renewExpired)
	}
	// An operator's lock or a clone's, from the record. A source locked out
	// after failed proofs is not the client: its tokens keep renewing.
	if c.locked(now) {
		return refuse(renewLocked)
	}
	if !policyutil.EquivalentPolicies(r.TokenPolicies, req.Auth.TokenPolicies) {
		return refuse(renewPolicies)
	}

	resp := &logical.Response{Auth: req.Auth}
	resp.Auth.TTL = r.TokenTTL
	resp.Auth.MaxTTL = r.TokenMaxTTL
	resp.Auth.Period = r.TokenPeriod
	return resp, nil
}

// The reasons a renewal is refused, as the server logs them
// (docs/operator.md lists them).
const (
	renewRoleGone        = "the role no longer exists"
	renewClientGone      = "the client no longer exists"
	renewOtherEnrollment = "token of an earlier enrollment or role"
	renewExpired         = "client has expired"
	renewLocked          = "client is locked"
	renewPolicies        = "the role's policies have changed"
)

const pathLoginHelpSyn = `Log in with an entropy proof.`

const pathLoginHelpDesc = `
A client logs in with its role, its client_id and a proof built for this one
login (vault-entropy proof). The proof samples byte ranges of the client's
entropy chosen by a fresh nonce, hashes them with the login's context and is
sealed to the server's public key. The server opens it, recomputes the hash
from its own copy of the entropy, and accepts each proof once.

Vault Agent's jwt auto-auth method sends role and jwt instead: jwt then
holds the proof (from a file vault-entropy agent keeps fresh) and the
client_id is read from it.

Refusals return "permission denied" with the reason in the server log, but
for three that tell an honest client what to do: a server key no longer
accepted, challenge mode required, and a proof issued before the server's
replay window opened (make a new one).
`
