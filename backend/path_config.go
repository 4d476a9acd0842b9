package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

const (
	defaultClockSkew    = 60 * time.Second
	defaultKeyRotation  = 24 * time.Hour
	defaultKeyGrace     = 24 * time.Hour
	maxClockSkew        = 10 * time.Minute
	defaultSampleCount  = 320
	defaultSampleLength = 8
	defaultEntropySize  = 64 << 10
	// defaultClientCacheSize holds about 500 clients of the default
	// entropy size with a rotation in flight, 1,000 without.
	defaultClientCacheSize = 64 << 20
)

// configEntry is the mount's configuration.
type configEntry struct {
	SchemaVersion     int           `json:"schema_version"`
	KeySuite          string        `json:"key_suite"`
	KeyRotationPeriod time.Duration `json:"key_rotation_period"`
	// KeyGracePeriod is how long after its retirement the previous server
	// key still opens proofs.
	KeyGracePeriod   time.Duration `json:"key_grace_period"`
	AllowedClockSkew time.Duration `json:"allowed_clock_skew"`
	// DefaultSampleCount and DefaultSampleLength are copied into roles
	// created without sampling parameters of their own.
	DefaultSampleCount  int `json:"default_sample_count"`
	DefaultSampleLength int `json:"default_sample_length"`
	// ClientCacheSize bounds, in bytes, the plugin's memory cache of
	// clients' records and entropy (client_cache.go); 0 turns it off.
	ClientCacheSize int64 `json:"client_cache_size"`
	// LogAcceptedLogins adds a server log line for every accepted login;
	// Vault's audit devices record every login anyway.
	LogAcceptedLogins bool `json:"log_accepted_logins"`
}

func defaultConfig() *configEntry {
	return &configEntry{
		KeySuite:            protocol.DefaultSuite.String(),
		KeyRotationPeriod:   defaultKeyRotation,
		KeyGracePeriod:      defaultKeyGrace,
		AllowedClockSkew:    defaultClockSkew,
		DefaultSampleCount:  defaultSampleCount,
		DefaultSampleLength: defaultSampleLength,
		ClientCacheSize:     defaultClientCacheSize,
	}
}

// config returns the stored config, or the defaults if none is stored.
func (b *entropyBackend) config(ctx context.Context, s logical.Storage) (*configEntry, error) {
	entry, err := s.Get(ctx, configStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if entry == nil {
		return defaultConfig(), nil
	}
	return decodeConfig(entry)
}

func pathConfig(b *entropyBackend) *framework.Path {
	return &framework.Path{
		Pattern: "config$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
		},
		Fields: map[string]*framework.FieldSchema{
			"key_suite": {
				Type:          framework.TypeString,
				Description:   "Suite of the server key that clients seal proofs to. Changing it creates a new current key at once.",
				Default:       protocol.DefaultSuite.String(),
				AllowedValues: stringsToAny(protocol.SuiteNames()),
			},
			"key_rotation_period": {
				Type:        framework.TypeDurationSecond,
				Description: "How often the server key is rotated automatically. 0 disables automatic rotation; keys/rotate always works.",
				Default:     int(defaultKeyRotation.Seconds()),
			},
			"key_grace_period": {
				Type:        framework.TypeDurationSecond,
				Description: "How long a retired server key still opens proofs after a newer key became current. 0: not at all. At most 31 key_rotation_periods.",
				Default:     int(defaultKeyGrace.Seconds()),
			},
			"allowed_clock_skew": {
				Type:        framework.TypeDurationSecond,
				Description: "How far a proof's issued_at may be from the server's clock, either way. Also how long a nonce is remembered.",
				Default:     int(defaultClockSkew.Seconds()),
			},
			"default_sample_count": {
				Type:        framework.TypeInt,
				Description: "Number of entropy ranges a proof samples, for roles created without sample_count.",
				Default:     defaultSampleCount,
			},
			"default_sample_length": {
				Type:        framework.TypeInt,
				Description: "Length in bytes of each sampled range, for roles created without sample_length.",
				Default:     defaultSampleLength,
			},
			"client_cache_size": {
				Type:        framework.TypeInt64,
				Description: "Bytes of plugin memory for the cache of clients' records and entropy, which spares each login its storage read. 0 turns it off.",
				Default:     defaultClientCacheSize,
			},
			"log_accepted_logins": {
				Type:        framework.TypeBool,
				Description: "Log every accepted login (role, client_id, generation, login_id, remote_addr) in the server log. Off by default: audit devices record every login, and the line costs each login a round trip of the plugin's log to Vault.",
				Default:     false,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathConfigRead,
				Summary:  "Read the mount's configuration.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationSuffix: "configuration",
				},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathConfigWrite,
				Summary:  "Configure the mount.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "configure",
				},
			},
		},
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: pathConfigHelpDesc,
	}
}

func (b *entropyBackend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"key_suite":             c.KeySuite,
		"key_rotation_period":   int64(c.KeyRotationPeriod.Seconds()),
		"key_grace_period":      int64(c.KeyGracePeriod.Seconds()),
		"allowed_clock_skew":    int64(c.AllowedClockSkew.Seconds()),
		"default_sample_count":  c.DefaultSampleCount,
		"default_sample_length": c.DefaultSampleLength,
		"client_cache_size":     c.ClientCacheSize,
		"log_accepted_logins":   c.LogAcceptedLogins,
	}}, nil
}

func (b *entropyBackend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	b.configLock.Lock()
	defer b.configLock.Unlock()

	c, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	suiteChanged := false
	if v, ok := d.GetOk("key_suite"); ok {
		s, err := protocol.ParseSuite(v.(string))
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		suiteChanged = s.String() != c.KeySuite
		c.KeySuite = s.String()
	}
	if v, ok := d.GetOk("key_rotation_period"); ok {
		c.KeyRotationPeriod = time.Duration(v.(int)) * time.Second
		if c.KeyRotationPeriod < 0 {
			return logical.ErrorResponse("key_rotation_period must not be negative"), nil
		}
	}
	if v, ok := d.GetOk("key_grace_period"); ok {
		c.KeyGracePeriod = time.Duration(v.(int)) * time.Second
		if c.KeyGracePeriod < 0 {
			return logical.ErrorResponse("key_grace_period must not be negative"), nil
		}
	}
	if v, ok := d.GetOk("allowed_clock_skew"); ok {
		c.AllowedClockSkew = time.Duration(v.(int)) * time.Second
		if c.AllowedClockSkew < time.Second || c.AllowedClockSkew > maxClockSkew {
			return logical.ErrorResponse("allowed_clock_skew must be between 1s and %s", maxClockSkew), nil
		}
	}
	if v, ok := d.GetOk("default_sample_count"); ok {
		c.DefaultSampleCount = v.(int)
	}
	if v, ok := d.GetOk("default_sample_length"); ok {
		c.DefaultSampleLength = v.(int)
	}
	if v, ok := d.GetOk("log_accepted_logins"); ok {
		c.LogAcceptedLogins = v.(bool)
	}
	if v, ok := d.GetOk("client_cache_size"); ok {
		c.ClientCacheSize = v.(int64)
		if c.ClientCacheSize < 0 {
			return logical.ErrorResponse("client_cache_size must not be negative"), nil
		}
	}
	if n := keysInGrace(c.KeyRotationPeriod, c.KeyGracePeriod); n > maxKeys {
		return logical.ErrorResponse("key_grace_period (%s) spans too many key_rotation_periods (%s): every key stays accepted "+
			"until its grace period ends, so the keyring would hold %d keys and it keeps at most %d; "+
			"lengthen key_rotation_period or shorten key_grace_period",
			c.KeyGracePeriod, c.KeyRotationPeriod, n, maxKeys), nil
	}
	sampling := protocol.Sampling{Count: c.DefaultSampleCount, Length: c.DefaultSampleLength}
	if err := sampling.Validate(defaultEntropySize); err != nil {
		return logical.ErrorResponse("default sampling: %s", err), nil
	}

	if suiteChanged {
		// A full keyring refuses the change before anything is written.
		if kr, err := readKeyring(ctx, req.Storage); err != nil {
			return nil, err
		} else if kr != nil {
			if kept := kr.accepted(b.now(), c.KeyGracePeriod); len(kept.Keys) >= maxKeys {
				return logical.ErrorResponse("key_suite not changed: %s", keyringFullError(kept, c.KeyGracePeriod)), nil
			}
		}
	}

	if err := b.storeCached(ctx, req.Storage, configStorageKey, c); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	if suiteChanged {
		if _, err := b.rotateKeys(ctx, req.Storage); err != nil {
			return nil, err
		}
		b.Logger().Info("server key suite changed; new current key created", "suite", c.KeySuite)
	}
	return nil, nil
}

// keysInGrace is how many keys the keyring holds at most when the key is
// rotated every period and each retired key is kept for grace: the current
// key and those retired within the last grace. Rotations are never closer
// than period (the periodic function runs after the period has passed), so
// this bounds the automatic rotations; manual ones on top are refused when
// the keyring is full.
func keysInGrace(period, grace time.Duration) int {
	if period <= 0 {
		return 1
	}
	n := grace / period
	if grace%period != 0 {
		n++
	}
	return 1 + int(n)
}

func stringsToAny(ss []string) []interface{} {
	out := make([]interface{}, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

const pathConfigHelpSyn = `Configure the server key suite, clock skew and default sampling.`

const pathConfigHelpDesc = `
key_suite selects the public-key construction of the server key that clients
seal their proofs to: xwing-hkdf-sha256-aes-256-gcm (default, post-quantum
hybrid), p256-hkdf-sha256-aes-256-gcm, or rsa3072-oaep-sha256-aes-256-gcm.
Changing it creates a new current key; the previous key keeps working for
key_grace_period.

key_rotation_period (default 24h; 0 disables) is how often the backend makes a
new current server key by itself, on the active node. key_grace_period (default
24h) is how long after that each retired key still opens proofs; a login sealed
to it succeeds and its receipt carries the new public keys. A client offline
for longer is told to fetch the keys (the "keys" endpoint). Every key is kept
until its grace ends, and the keyring holds at most 32 keys: a
key_grace_period longer than 31 key_rotation_periods is refused. Shortening
key_grace_period shortens the grace of keys already retired.

allowed_clock_skew bounds how far a proof's issued_at may be from the server's
clock. default_sample_count and default_sample_length are the sampling
parameters copied into roles created without their own.

log_accepted_logins (default false) adds a server log line for every accepted
login; refusals, rotations, clones and locks are always logged, and audit
devices record every login.

client_cache_size (default 64 MiB; 0 turns it off) bounds the plugin's memory
cache of clients' records and entropy: a login of a cached client reads
nothing from storage. The cache holds secrets, as the plugin's memory already
does (the server's private keys); see the operator guide.
`
