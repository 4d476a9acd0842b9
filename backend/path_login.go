package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	metaLoginID    = "login_id"
)

// Refusal reasons of the server's own checks, next to protocol's.
var (
	errUnknownClient = errors.New("no such role or client")
	errClientExpired = errors.New("client has expired")
	errSourceAddress = errors.New("login comes from an address outside the role's login_bound_cidrs")
	// errStaleSuperseded refuses a proof of the superseded generation made
	// before its successor was first proven: not a clone (verifyMaterial).
	errStaleSuperseded = errors.New("proof is made from the superseded entropy generation but was issued no later than the first proof of its successor: stale, not a clone")
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
			"jwt": {
				Type: framework.TypeString,
				Description: "The entropy proof, in place of proof and client_id (the client ID is read from the proof), " +
					"surrounding whitespace ignored: the shape Vault Agent's jwt auto-auth method sends. Not a JWT.",
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
	if b.forwardsLogins() {
		return nil, logical.ErrReadOnly
	}
	lr, resp := parseLoginRequest(d)
	if resp != nil {
		return resp, nil
	}
	v, err := b.verifyLogin(ctx, req, lr)
	if err != nil {
		var refusal *loginRefusal
		if !errors.As(err, &refusal) {
			return nil, err
		}
		b.logRefusal(req, lr, refusal)
		// Three refusals are named, because they tell an honest client what
		// to do and tell anyone else nothing about the client: a key that
		// is no longer accepted is public knowledge, and "challenge
		// required" and "make a new proof" are said only after the proof
		// has verified.
		for _, named := range []error{protocol.ErrKeyNotAccepted, protocol.ErrChallengeRequired, protocol.ErrProofPredatesWindow} {
			if errors.Is(err, named) {
				return logical.ErrorResponse(named.Error()), nil
			}
		}
		return nil, logical.ErrPermissionDenied
	}

	receipt, err := v.claims.SealReceipt(v.receipt, v.entropy)
	if err != nil {
		return nil, err
	}
	gen := strconv.FormatUint(v.claims.Generation(), 10)
	auth := &logical.Auth{
		InternalData: map[string]interface{}{
			metaRole:     lr.role,
			metaClientID: lr.clientID,
			// What renewal checks the token is still bound to.
			metaEnrollmentID:   v.client.EnrollmentID,
			metaRoleInstanceID: v.role.InstanceID,
		},
		Metadata: map[string]string{
			metaRole:       lr.role,
			metaClientID:   lr.clientID,
			metaGeneration: gen,
			metaLoginID:    v.claims.LoginID(),
		},
		DisplayName: lr.role + "-" + lr.clientID,
		Alias: &logical.Alias{
			Name: v.client.aliasName(),
			Metadata: map[string]string{
				metaRole:     lr.role,
				metaClientID: lr.clientID,
			},
		},
	}
	v.role.PopulateTokenAuth(auth)
	b.Logger().Info("login accepted", "role", lr.role, "client_id", lr.clientID, "generation", gen,
		"login_id", v.claims.LoginID(), "remote_addr", remoteAddr(req))
	return &logical.Response{
		Auth: auth,
		// Sealed for the client alone; audit devices HMAC it like any
		// response string.
		Data: map[string]interface{}{"receipt": receipt},
	}, nil
}

// loginRefusal is a failed check: the caller learns nothing of it, the
// server log learns the reason.
type loginRefusal struct{ reason error }

func (r *loginRefusal) Error() string { return r.reason.Error() }
func (r *loginRefusal) Unwrap() error { return r.reason }

func refuse(reason error) error { return &loginRefusal{reason: reason} }

// verifiedLogin is what a successful verification yields.
type verifiedLogin struct {
	role    *roleEntry
	client  *clientEntry
	claims  *protocol.Claims
	receipt *protocol.Receipt
	// entropy is the proven generation's entropy: its size is what a
	// promotion records, and it keys the receipt (docs/protocol.md §9.1).
	entropy []byte
}

// verifyLogin makes every check of the protocol's verification, cheap ones
// first, then records the outcome: a claimed nonce, a rotation, a
// promotion, a failure toward lockout or a clone. A refusal is a
// *loginRefusal; any other error is an internal fault.
func (b *entropyBackend) verifyLogin(ctx context.Context, req *logical.Request, lr *loginRequest) (*verifiedLogin, error) {
	env := lr.env
	if env == nil {
		var err error
		if env, err = protocol.ParseProof(lr.proof); err != nil {
			return nil, refuse(err)
		}
	}
	// The header's names are in the clear: comparing them with the
	// request's needs no key, no storage and no decryption, so a proof
	// presented for another client or role (a replay attempt, or a flood
	// of one captured proof) is refused before any of them
	// (docs/protocol.md §8.1, check 8). The caller knows both sides of the
	// comparison, so making it early reveals nothing.
	if err := env.CheckHeader(lr.role, lr.clientID); err != nil {
		return nil, refuse(err)
	}
	// A source locked out of this client after failed proofs is refused
	// here, from memory, before any decryption (lockout.go).
	if err := b.checkSource(req, lr.role, lr.clientID); err != nil {
		return nil, err
	}
	now := b.now()
	conf, err := b.cachedConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	kr, err := b.cachedKeyring(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if kr == nil || !kr.accepts(env.Header.KeyID, now, conf.KeyGracePeriod) {
		return nil, refuse(fmt.Errorf("%w (key %s)", protocol.ErrKeyNotAccepted, env.Header.KeyID))
	}
	sk, err := b.privateKey(kr, env.Header.KeyID)
	if err != nil {
		return nil, err
	}
	claims, err := env.Open(sk)
	if err != nil {
		return nil, refuse(err)
	}
	// The time check needs only the payload, so it comes before the
	// role and client are read and the client's lock is taken: a stale or
	// far-future proof (a captured proof replayed late) costs no storage
	// read and does not queue behind the client's own logins. The caller
	// chose issued_at, so refusing it first reveals nothing; and neither
	// these refusals nor those of step 9 count toward lockout.
	if err := claims.CheckTime(now, conf.AllowedClockSkew); err != nil {
		return nil, refuse(err)
	}
	// Tighter than the skew on this side: the replay watermark follows
	// the latest issued_at accepted (nonce.go).
	if claims.IssuedAt().After(now.Add(maxFutureSkew)) {
		return nil, refuse(fmt.Errorf("%w (more than %s ahead)", protocol.ErrFromFuture, maxFutureSkew))
	}

	// A replay of an accepted proof is refused from memory, before the
	// client's lock and any storage read: a flood of one captured proof
	// neither queues behind the client's logins nor reads its entropy.
	// The claim below stays the atomic check.
	if b.nonces.claimed(claims.NonceID(), claims.IssuedAt()) {
		return nil, refuse(protocol.ErrReplay)
	}

	r, err := b.cachedRole(ctx, req.Storage, lr.role)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, refuse(errUnknownClient)
	}
	// Every outcome from here on may change the client's record.
	lock := b.clientLock(lr.role, lr.clientID)
	lock.Lock()
	defer lock.Unlock()
	c, err := b.client(ctx, req.Storage, lr.role, lr.clientID)
	if err != nil {
		return nil, err
	}
	switch {
	case c == nil:
		return nil, refuse(errUnknownClient) // and nothing written
	case !c.boundTo(r):
		return nil, refuse(errStaleClient)
	case c.expired(now):
		return nil, refuse(errClientExpired)
	case c.locked(now):
		return nil, refuse(fmt.Errorf("%w (%s)", errClientLocked, c.LockReason))
	case len(r.LoginBoundCIDRs) > 0 && !cidrutil.RemoteAddrIsOk(remoteAddr(req), r.LoginBoundCIDRs):
		return nil, refuse(errSourceAddress)
	}

	v, err := b.verifyMaterial(ctx, req, r, c, claims, now, conf.AllowedClockSkew)
	if err != nil {
		var refusal *loginRefusal
		if errors.As(err, &refusal) && testsEntropy(refusal.reason) {
			b.recordFailure(req, c, r, now)
		}
		return nil, err
	}
	if err := b.recordAccepted(ctx, req.Storage, r, c, v, now); err != nil {
		return nil, err
	}
	if env.Header.KeyID.String() != kr.Keys[0].ID {
		v.receipt.ServerKeys = publishedKeys(kr)
	}
	return v, nil
}

// verifyMaterial checks that the proof was made from one of the client's
// generations (its challenge first, in challenge mode) and claims its
// nonce. A proof of the superseded generation that verifies is a clone:
// it is recorded and refused.
func (b *entropyBackend) verifyMaterial(ctx context.Context, req *logical.Request, r *roleEntry, c *clientEntry, claims *protocol.Claims, now time.Time, skew time.Duration) (*verifiedLogin, error) {
	if len(claims.Challenge()) > 0 {
		key, err := b.challengeKey(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		if err := claims.CheckChallenge(key, now); err != nil {
			return nil, refuse(err)
		}
	}
	g := claims.Generation()
	kind, sampling := c.generationOf(g)
	if kind == genUnknown {
		return nil, refuse(fmt.Errorf("%w (generation %d; the client is at %d)", protocol.ErrGeneration, g, c.Generation))
	}
	// A proof of the superseded generation issued no later than the proof
	// that first proved its successor was made before the client moved on:
	// withheld by someone on the path, or delayed. It is stale, not a
	// clone (docs/protocol.md §14.3): refused, nothing counted or locked,
	// its entropy not read. Both times are the client's own clock.
	if kind == genSuperseded && !claims.IssuedAt().After(c.SupersededAt) {
		return nil, refuse(fmt.Errorf("%w (generation %d, issued at %s, no later than the first proof of generation %d)",
			errStaleSuperseded, g, claims.IssuedAt().UTC().Format(time.RFC3339), c.Generation))
	}
	entropy, err := b.entropy(ctx, req.Storage, c.Role, c.ClientID, g)
	if err != nil {
		return nil, err
	}
	if entropy == nil {
		return nil, fmt.Errorf("client %s/%s has no entropy for its %s generation %d", c.Role, c.ClientID, kind, g)
	}
	if err := claims.Verify(entropy, sampling); err != nil {
		return nil, refuse(err)
	}
	// A verified proof of the superseded generation is a clone whatever
	// its mode: it goes on to be recorded as one.
	if r.ChallengeRequired && len(claims.Challenge()) == 0 && kind != genSuperseded {
		// Not claimed: this proof will never pass, and the client builds
		// another one in challenge mode.
		return nil, refuse(protocol.ErrChallengeRequired)
	}

	// Claimed before a clone is recorded, so that replaying an accepted
	// proof after a rotation is a replay, not a clone that locks the
	// client.
	if err := b.nonces.claim(ctx, req.Storage, claims.NonceID(), claims.IssuedAt(), now, skew); err != nil {
		if isNonceRefusal(err) {
			return nil, refuse(err)
		}
		return nil, err
	}
	if kind == genSuperseded {
		if err := b.recordClone(ctx, req.Storage, req, c, r, g, now); err != nil {
			return nil, err
		}
		return nil, refuse(errClone)
	}
	return &verifiedLogin{role: r, client: c, claims: claims, receipt: claims.NewReceipt(r.ChallengeRequired), entropy: entropy}, nil
}

// recordAccepted updates the client for an accepted proof: a proven
// pending generation becomes current, a due rotation is issued, a lock
// that has run out is lifted. The record is written once, after any new
// entropy and before the entropy it no longer names is deleted.
func (b *entropyBackend) recordAccepted(ctx context.Context, s logical.Storage, r *roleEntry, c *clientEntry, v *verifiedLogin, now time.Time) error {
	changed := false
	var obsolete uint64
	if v.claims.Generation() == c.PendingGeneration {
		obsolete = c.promote(len(v.entropy), v.claims.IssuedAt())
		changed = true
		b.Logger().Info("entropy generation proven; the previous one is superseded", "role", c.Role, "client_id", c.ClientID,
			"generation", c.Generation, "superseded_generation", c.SupersededGeneration)
	}
	rot, rotated, err := b.rotation(ctx, s, c, r, now)
	if err != nil {
		return err
	}
	v.receipt.Rotation = rot
	changed = changed || rotated
	if c.Locked {
		c.unlock() // a lock that has run out: a proof has succeeded
		changed = true
	}
	if !changed {
		return nil
	}
	if err := b.putClientRecord(ctx, s, c); err != nil {
		return err
	}
	if obsolete != 0 {
		return b.deleteEntropy(ctx, s, c.Role, c.ClientID, obsolete)
	}
	return nil
}

// publishedKeys is the keyring as a receipt carries it to a client whose
// proof was sealed to a key that is no longer current.
func publishedKeys(kr *keyring) []protocol.PublishedKey {
	out := make([]protocol.PublishedKey, len(kr.Keys))
	for i, k := range kr.Keys {
		out[i] = protocol.PublishedKey{KeyID: k.ID, Suite: k.Suite, PublicKey: k.PublicKey, Current: i == 0}
	}
	return out
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
// the client still exist and are the instance and enrollment the token was
// issued for, the client has neither expired nor been locked, and the
// role's policies are the ones the token was issued with.
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
	if !tokenBoundTo(req.Auth.InternalData, r, c) {
		// Deleted and enrolled again, or its role deleted and created again:
		// perhaps a stolen token outliving the theft response.
		b.Logger().Warn("renewal refused: token of an earlier enrollment or role", "role", role, "client_id", clientID)
		return nil, fmt.Errorf("client %q of role %q is not the enrollment this token was issued to", clientID, role)
	}
	now := b.now()
	if c.expired(now) {
		return nil, fmt.Errorf("client %q of role %q has expired", clientID, role)
	}
	// An operator's lock or a clone's, from the record. A source locked out
	// after failed proofs is not the client: its tokens keep renewing.
	if c.locked(now) {
		return nil, fmt.Errorf("client %q of role %q is locked", clientID, role)
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

Vault Agent's jwt auto-auth method sends role and jwt instead: jwt then
holds the proof (from a file vault-entropy agent keeps fresh) and the
client_id is read from it.

Refusals return "permission denied" with the reason in the server log, but
for two that tell an honest client what to do: a server key no longer
accepted, and challenge mode required.
`
