package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func pathRoleList(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "role/?$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "roles",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{
				Callback: b.pathRoleList,
				Summary:  "List the roles.",
			},
		},
		HelpSynopsis:    pathRoleListHelpSyn,
		HelpDescription: pathRoleListHelpDesc,
	}
}

func pathRole(b *entropyBackend) *framework.Path {
	p := &framework.Path{
		Pattern: "role/" + framework.GenericNameRegex("name") + "$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "role",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {
				Type:        framework.TypeString,
				Description: "Name of the role: lower-case letters, digits, '.', '_' and '-'.",
			},
			"entropy_size": {
				Type:        framework.TypeInt,
				Description: fmt.Sprintf("Size in bytes of each client's entropy, %d to %d. Applies to clients enrolled afterwards.", protocol.MinEntropySize, protocol.MaxEntropySize),
				Default:     defaultEntropySize,
			},
			"sample_count": {
				Type:        framework.TypeInt,
				Description: "Number of entropy ranges each proof samples. Defaults to the config's default_sample_count. Applies to clients enrolled afterwards.",
			},
			"sample_length": {
				Type:        framework.TypeInt,
				Description: "Length in bytes of each sampled range. Defaults to the config's default_sample_length. Applies to clients enrolled afterwards.",
			},
			"login_bound_cidrs": {
				Type:        framework.TypeCommaStringSlice,
				Description: "CIDR blocks that logins for this role must come from. Empty allows any address.",
			},
			"client_ttl": {
				Type:        framework.TypeDurationSecond,
				Description: "How long an enrolled client may log in before it must be enrolled again. 0 means no limit.",
			},
			"rotation_period": {
				Type:        framework.TypeDurationSecond,
				Description: "How old a client's entropy generation may grow before a login is handed the next one. At least 1s.",
				Default:     int(defaultRotationPeriod.Seconds()),
			},
			"generation_overlap": {
				Type:        framework.TypeDurationSecond,
				Description: "How long a client's previous entropy generation stays valid after its next one is first proven, so that copies of an old deployment still running after a deploy-time rotation log in rather than being taken for clones. 0 (the default) accepts none. At most 24h.",
				Default:     0,
			},
			"clone_action": {
				Type:          framework.TypeString,
				Description:   "What a proof made from a superseded generation does to its client: \"lock\" it (until an operator unlocks it) or only \"log\" the event.",
				Default:       cloneActionLock,
				AllowedValues: []interface{}{cloneActionLock, cloneActionLog},
			},
			"lockout_threshold": {
				Type:        framework.TypeInt,
				Description: "Failed proofs (wrong digests) for one client from one source address (IPv4 address, IPv6 /64) within lockout_counter_reset that lock that source out of that client for lockout_duration; other sources, and the client's tokens, are not affected. 0 disables lockout.",
				Default:     defaultLockoutThreshold,
			},
			"lockout_duration": {
				Type:        framework.TypeDurationSecond,
				Description: "How long a source stays locked out of a client after reaching lockout_threshold. At least 1s: to disable lockout, set lockout_threshold to 0.",
				Default:     int(defaultLockoutDuration.Seconds()),
			},
			"lockout_counter_reset": {
				Type:        framework.TypeDurationSecond,
				Description: "The window, from a source's first failed proof, in which its failed proofs are counted toward lockout_threshold. At least 1s: to disable lockout, set lockout_threshold to 0.",
				Default:     int(defaultLockoutCounterReset.Seconds()),
			},
			"challenge_required": {
				Type:        framework.TypeBool,
				Description: "Require every login to use challenge mode: the server, not the client, decides which entropy ranges a proof samples.",
				Default:     false,
			},
		},
		ExistenceCheck: b.pathRoleExistenceCheck,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{
				Callback: b.pathRoleWrite,
				Summary:  "Create a role.",
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathRoleWrite,
				Summary:  "Update a role.",
			},
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathRoleRead,
				Summary:  "Read a role.",
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback: b.pathRoleDelete,
				Summary:  "Delete a role and every client enrolled in it.",
			},
		},
		HelpSynopsis:    pathRoleHelpSyn,
		HelpDescription: pathRoleHelpDesc,
	}
	tokenutil.AddTokenFields(p.Fields)
	return p
}

// roleName returns the request's role name if it is valid.
func roleName(d *framework.FieldData) (string, *logical.Response) {
	name := d.Get("name").(string)
	if err := protocol.ValidName(name); err != nil {
		return "", logical.ErrorResponse("invalid role name: %s", err)
	}
	return name, nil
}

func (b *entropyBackend) pathRoleExistenceCheck(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name, resp := roleName(d)
	if resp != nil {
		// Let the handler report the bad name.
		return false, nil
	}
	r, err := b.role(ctx, req.Storage, name)
	return r != nil, err
}

func (b *entropyBackend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

func (b *entropyBackend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, resp := roleName(d)
	if resp != nil {
		return resp, nil
	}
	r, err := b.role(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	data := map[string]interface{}{
		"entropy_size":      r.EntropySize,
		"sample_count":      r.SampleCount,
		"sample_length":     r.SampleLength,
		"login_bound_cidrs": cidrStrings(r),
		"client_ttl":        int64(r.ClientTTL.Seconds()),

		"rotation_period":       int64(r.RotationPeriod.Seconds()),
		"generation_overlap":    int64(r.GenerationOverlap.Seconds()),
		"clone_action":          r.CloneAction,
		"lockout_threshold":     r.LockoutThreshold,
		"lockout_duration":      int64(r.LockoutDuration.Seconds()),
		"lockout_counter_reset": int64(r.LockoutCounterReset.Seconds()),
		"challenge_required":    r.ChallengeRequired,
	}
	r.PopulateTokenData(data)
	return &logical.Response{Data: data}, nil
}

// onlyIPBlocks refuses addresses that parse as something other than an IP
// block: sockaddr reads "300.0.0.0/8" as a Unix socket path, which would
// make a role whose logins or tokens can never match.
func onlyIPBlocks(cidrs []*sockaddr.SockAddrMarshaler) error {
	for _, c := range cidrs {
		if c.Type()&sockaddr.TypeIP == 0 {
			return fmt.Errorf("%q is not an IP address or CIDR block", c.String())
		}
	}
	return nil
}

func cidrStrings(r *roleEntry) []string {
	out := make([]string, 0, len(r.LoginBoundCIDRs))
	for _, c := range r.LoginBoundCIDRs {
		out = append(out, c.String())
	}
	return out
}

func (b *entropyBackend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
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
	create := r == nil
	if create {
		if req.Operation == logical.UpdateOperation {
			// The existence check said the role existed; it is gone now.
			return logical.ErrorResponse("role %q does not exist", name), nil
		}
		c, err := b.config(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		instance, err := newBindingID()
		if err != nil {
			return nil, err
		}
		r = &roleEntry{
			InstanceID: instance,

			EntropySize:  defaultEntropySize,
			SampleCount:  c.DefaultSampleCount,
			SampleLength: c.DefaultSampleLength,

			RotationPeriod:      defaultRotationPeriod,
			CloneAction:         cloneActionLock,
			LockoutThreshold:    defaultLockoutThreshold,
			LockoutDuration:     defaultLockoutDuration,
			LockoutCounterReset: defaultLockoutCounterReset,
		}
	}
	if err := r.ParseTokenFields(req, d); err != nil {
		return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
	}
	if v, ok := d.GetOk("entropy_size"); ok {
		r.EntropySize = v.(int)
	}
	if v, ok := d.GetOk("sample_count"); ok {
		r.SampleCount = v.(int)
	}
	if v, ok := d.GetOk("sample_length"); ok {
		r.SampleLength = v.(int)
	}
	if err := r.sampling().Validate(r.EntropySize); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if v, ok := d.GetOk("login_bound_cidrs"); ok {
		cidrs, err := parseutil.ParseAddrs(v)
		if err != nil {
			return logical.ErrorResponse("invalid login_bound_cidrs: %s", err), nil
		}
		r.LoginBoundCIDRs = cidrs
	}
	for field, cidrs := range map[string][]*sockaddr.SockAddrMarshaler{
		"login_bound_cidrs": r.LoginBoundCIDRs,
		"token_bound_cidrs": r.TokenBoundCIDRs,
	} {
		if err := onlyIPBlocks(cidrs); err != nil {
			return logical.ErrorResponse("invalid %s: %s", field, err), nil
		}
	}
	if v, ok := d.GetOk("client_ttl"); ok {
		r.ClientTTL = time.Duration(v.(int)) * time.Second
		if r.ClientTTL < 0 {
			return logical.ErrorResponse("client_ttl must not be negative"), nil
		}
	}
	if resp := parseLifecycleFields(r, d); resp != nil {
		return resp, nil
	}
	if r.TokenMaxTTL > 0 && r.TokenTTL > r.TokenMaxTTL {
		return logical.ErrorResponse("token_ttl must not exceed token_max_ttl"), nil
	}
	if err := b.putRole(ctx, req.Storage, name, r); err != nil {
		return nil, err
	}
	return nil, nil
}

// parseLifecycleFields applies the rotation, clone and lockout fields the
// request names to r, or returns the error response for the first bad one.
func parseLifecycleFields(r *roleEntry, d *framework.FieldData) *logical.Response {
	if v, ok := d.GetOk("rotation_period"); ok {
		r.RotationPeriod = time.Duration(v.(int)) * time.Second
		if r.RotationPeriod < minRotationPeriod {
			return logical.ErrorResponse("rotation_period must be at least %s", minRotationPeriod)
		}
	}
	if v, ok := d.GetOk("generation_overlap"); ok {
		r.GenerationOverlap = time.Duration(v.(int)) * time.Second
		if r.GenerationOverlap < 0 || r.GenerationOverlap > maxGenerationOverlap {
			return logical.ErrorResponse("generation_overlap must be between 0 and %s", maxGenerationOverlap)
		}
	}
	if v, ok := d.GetOk("clone_action"); ok {
		switch a := v.(string); a {
		case cloneActionLock, cloneActionLog:
			r.CloneAction = a
		default:
			return logical.ErrorResponse("clone_action must be %q or %q", cloneActionLock, cloneActionLog)
		}
	}
	if v, ok := d.GetOk("lockout_threshold"); ok {
		r.LockoutThreshold = v.(int)
		if r.LockoutThreshold < 0 {
			return logical.ErrorResponse("lockout_threshold must not be negative (0 disables lockout)")
		}
	}
	// A lockout of no time, or a window that counts nothing, would be a
	// second way to disable lockout that still looks enabled: refused, so
	// that lockout_threshold=0 is the one way.
	for field, dst := range map[string]*time.Duration{
		"lockout_duration":      &r.LockoutDuration,
		"lockout_counter_reset": &r.LockoutCounterReset,
	} {
		if v, ok := d.GetOk(field); ok {
			*dst = time.Duration(v.(int)) * time.Second
			if *dst <= 0 {
				return logical.ErrorResponse("%s must be at least 1s; set lockout_threshold to 0 to disable lockout", field)
			}
		}
	}
	if v, ok := d.GetOk("challenge_required"); ok {
		r.ChallengeRequired = v.(bool)
	}
	return nil
}

func (b *entropyBackend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, resp := roleName(d)
	if resp != nil {
		return resp, nil
	}
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()

	// Delete the role first, so that no new client can be enrolled while
	// the existing ones are removed and none of them can log in. Clients a
	// failure leaves behind stay bound to this instance of the role, so
	// they cannot log in under a role created again with the same name;
	// deleting the role again, or tidy, removes them.
	if err := b.storeCached(ctx, req.Storage, roleStorageKey(name), nil); err != nil {
		return nil, fmt.Errorf("deleting role: %w", err)
	}
	ids, err := req.Storage.List(ctx, clientPrefix+name+"/")
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	// One client that cannot be deleted does not keep the others.
	var errs []error
	for _, id := range ids {
		if err := b.deleteClient(ctx, req.Storage, name, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		b.Logger().Warn("role deleted, some of its clients not; tidy deletes them", "role", name,
			"clients", len(ids), "not_deleted", len(errs))
		return nil, fmt.Errorf("role deleted, but %d of its %d clients not (delete the role again, or tidy): %w", len(errs), len(ids), err)
	}
	if len(ids) > 0 {
		b.Logger().Info("role deleted with its clients", "role", name, "clients", len(ids))
	}
	return nil, nil
}

const pathRoleListHelpSyn = `List the roles.`

const pathRoleListHelpDesc = `Lists the names of every role of this mount.`

const pathRoleHelpSyn = `Manage a role: its clients' entropy, sampling, login CIDRs and tokens.`

const pathRoleHelpDesc = `
A role groups clients that get the same tokens. entropy_size, sample_count and
sample_length fix the entropy each enrolled client receives and how many bytes
of it every proof hashes; they apply to clients enrolled after a change.
login_bound_cidrs limits where logins may come from; client_ttl limits how long
an enrolled client may log in. The token_* fields are Vault's common token
parameters (policies, TTLs, period, bound CIDRs, type, number of uses).

rotation_period (default 1h) is how old a client's entropy generation may grow
before a login is handed the next one, sealed in its receipt. clone_action
("lock", the default, or "log") is what a proof made from a superseded
generation does to its client. lockout_threshold failed proofs for one client
from one source address (default 5; 0 disables lockout) within
lockout_counter_reset (default 15m) lock that source out of that client for
lockout_duration (default 15m), counted in memory on the active node; other
sources and the client's tokens are not affected. challenge_required makes every login use a
server-made challenge (the "challenge" endpoint).

Deleting a role deletes every client enrolled in it; their tokens can no longer
be renewed. A role created again with the same name is a new role: clients and
tokens of the deleted one never log in or renew under it.
`
