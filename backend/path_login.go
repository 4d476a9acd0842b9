package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/cidrutil"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Keys of the token metadata and of the auth's internal data.
const (
	metaRole       = "role"
	metaClientID   = "client_id"
	metaGeneration = "generation"
)

// Refusal reasons of the server's own checks, next to protocol's.
var (
	errUnknownClient = errors.New("no such role or client")
	errClientExpired = errors.New("client has expired")
	errSourceAddress = errors.New("login comes from an address outside the role's login_bound_cidrs")
)

func pathLogin(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "login$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "login",
		},
		Fields: map[string]*framework.FieldSchema{
			"role": {
				Type:        framework.TypeString,
				Description: "Name of the role the client is enrolled in.",
			},
			"client_id": {
				Type:        framework.TypeString,
				Description: "ID of the client.",
			},
			"proof": {
				Type:        framework.TypeString,
				Description: "The entropy proof for this login, as printed by `vault-entropy proof`.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathLogin,
				Summary:  "Log in with an entropy proof.",
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

// loginRequest is a login's fields, present but not yet checked.
type loginRequest struct {
	role, clientID, proof string
}

func parseLoginRequest(d *framework.FieldData) (*loginRequest, *logical.Response) {
	lr := &loginRequest{
		role:     d.Get("role").(string),
		clientID: d.Get("client_id").(string),
		proof:    d.Get("proof").(string),
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

// aliasName identifies a client uniquely and stably within the mount: a
// client ID is unique within its role, and neither name contains '/'.
func aliasName(role, clientID string) string { return role + "/" + clientID }

func (b *entropyBackend) pathLoginAliasLookahead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	lr, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	return &logical.Response{Auth: &logical.Auth{
		Alias: &logical.Alias{Name: aliasName(lr.role, lr.clientID)},
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
	r, err := b.role(ctx, req.Storage, lr.role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.ErrPermissionDenied
	}
	return logical.ResolveRoleResponse(lr.role)
}

func (b *entropyBackend) pathLogin(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	lr, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	v, err := b.verifyLogin(ctx, req, lr)
	if err != nil {
		var refusal *loginRefusal
		if errors.As(err, &refusal) {
			b.logRefusal(req, lr, refusal)
			return nil, logical.ErrPermissionDenied
		}
		return nil, err
	}

	gen := strconv.FormatUint(v.claims.Generation(), 10)
	auth := &logical.Auth{
		InternalData: map[string]interface{}{
			metaRole:     lr.role,
			metaClientID: lr.clientID,
		},
		Metadata: map[string]string{
			metaRole:       lr.role,
			metaClientID:   lr.clientID,
			metaGeneration: gen,
		},
		DisplayName: lr.role + "-" + lr.clientID,
		Alias: &logical.Alias{
			Name: aliasName(lr.role, lr.clientID),
			Metadata: map[string]string{
				metaRole:     lr.role,
				metaClientID: lr.clientID,
			},
		},
	}
	v.role.PopulateTokenAuth(auth)
	b.Logger().Info("login accepted", "role", lr.role, "client_id", lr.clientID, "generation", gen, "remote_addr", remoteAddr(req))
	return &logical.Response{Auth: auth}, nil
}

// loginRefusal is a failed check: the caller learns nothing of it, the
// server log learns the reason.
type loginRefusal struct{ reason error }

func (r *loginRefusal) Error() string { return r.reason.Error() }
func (r *loginRefusal) Unwrap() error { return r.reason }

func refuse(reason error) error { return &loginRefusal{reason: reason} }

// verifiedLogin is what a successful verification yields.
type verifiedLogin struct {
	role   *roleEntry
	claims *protocol.Claims
}

// verifyLogin makes every check of the protocol's verification, cheap ones
// first, and the only write (claiming the nonce) last. A refusal is a
// *loginRefusal; any other error is an internal fault.
func (b *entropyBackend) verifyLogin(ctx context.Context, req *logical.Request, lr *loginRequest) (*verifiedLogin, error) {
	env, err := protocol.ParseProof(lr.proof)
	if err != nil {
		return nil, refuse(err)
	}
	kr, err := readKeyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	var sk *protocol.PrivateKey
	if kr != nil {
		if sk, err = b.privateKey(kr, env.Header.KeyID); err != nil {
			return nil, err
		}
	}
	claims, err := env.Open(sk)
	if err != nil {
		return nil, refuse(err)
	}
	if err := claims.CheckHeader(lr.role, lr.clientID); err != nil {
		return nil, refuse(err)
	}

	r, err := b.role(ctx, req.Storage, lr.role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, refuse(errUnknownClient)
	}
	lock := b.clientLock(lr.role, lr.clientID)
	lock.RLock()
	defer lock.RUnlock()
	c, err := b.client(ctx, req.Storage, lr.role, lr.clientID)
	if err != nil {
		return nil, err
	}
	now := b.now()
	switch {
	case c == nil:
		return nil, refuse(errUnknownClient)
	case c.expired(now):
		return nil, refuse(errClientExpired)
	case len(r.LoginBoundCIDRs) > 0 && !cidrutil.RemoteAddrIsOk(remoteAddr(req), r.LoginBoundCIDRs):
		return nil, refuse(errSourceAddress)
	}

	conf, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if err := claims.CheckTime(now, conf.AllowedClockSkew); err != nil {
		return nil, refuse(err)
	}
	if claims.Generation() != c.Generation {
		return nil, refuse(protocol.ErrGeneration)
	}
	entropy, err := b.entropy(ctx, req.Storage, lr.role, lr.clientID, c.Generation)
	if err != nil {
		return nil, err
	}
	if entropy == nil {
		return nil, fmt.Errorf("client %s/%s has no entropy for generation %d", lr.role, lr.clientID, c.Generation)
	}
	sampling := protocol.Sampling{Count: c.SampleCount, Length: c.SampleLength}
	if err := claims.Verify(entropy, sampling, nil); err != nil {
		return nil, refuse(err)
	}

	// Remember the nonce for as long as its proof could pass the time check
	// under any config: the skew may be raised after this login.
	fresh, err := b.nonces.claim(ctx, req.Storage, claims.NonceID(), claims.IssuedAt(), nonceExpiry(claims.IssuedAt()))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, refuse(protocol.ErrReplay)
	}
	return &verifiedLogin{role: r, claims: claims}, nil
}

// logRefusal records why a login was refused. The names are logged only
// when they are well-formed, so that nothing a caller sends reaches the log
// unchecked; no proof, digest or entropy is ever logged.
func (b *entropyBackend) logRefusal(req *logical.Request, lr *loginRequest, r *loginRefusal) {
	role, clientID := lr.role, lr.clientID
	if protocol.ValidName(role) != nil {
		role = "(invalid)"
	}
	if protocol.ValidName(clientID) != nil {
		clientID = "(invalid)"
	}
	b.Logger().Warn("login refused", "role", role, "client_id", clientID, "remote_addr", remoteAddr(req), "reason", r.reason.Error())
}

func remoteAddr(req *logical.Request) string {
	if req.Connection == nil {
		return ""
	}
	return req.Connection.RemoteAddr
}

// pathLoginRenew re-checks what login checked that can change: the role and
// the client still exist, the client has not expired, and the role's
// policies are the ones the token was issued with.
func (b *entropyBackend) pathLoginRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Auth == nil {
		return nil, errors.New("request auth was nil")
	}
	role, _ := req.Auth.InternalData[metaRole].(string)
	clientID, _ := req.Auth.InternalData[metaClientID].(string)
	if role == "" || clientID == "" {
		return nil, errors.New("token has no role or client_id")
	}
	r, err := b.role(ctx, req.Storage, role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("role %q no longer exists", role)
	}
	c, err := b.client(ctx, req.Storage, role, clientID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("client %q of role %q no longer exists", clientID, role)
	}
	if c.expired(b.now()) {
		return nil, fmt.Errorf("client %q of role %q has expired", clientID, role)
	}
	if !policyutil.EquivalentPolicies(r.TokenPolicies, req.Auth.TokenPolicies) {
		return nil, errors.New("policies have changed, not renewing")
	}

	resp := &logical.Response{Auth: req.Auth}
	resp.Auth.TTL = r.TokenTTL
	resp.Auth.MaxTTL = r.TokenMaxTTL
	resp.Auth.Period = r.TokenPeriod
	return resp, nil
}

const pathLoginHelpSyn = `Log in with an entropy proof.`

const pathLoginHelpDesc = `
A client logs in with its role, its client_id and a proof built for this one
login (vault-entropy proof). The proof samples byte ranges of the client's
entropy chosen by a fresh nonce, hashes them with the login's context and is
sealed to the server's public key. The server opens it, recomputes the hash
from its own copy of the entropy, and accepts each proof once.

Every refusal returns the same "permission denied"; the reason is in the
server log.
`
