// Package backend is the entropy auth method: a Vault credential backend in
// which every client proves, at each login, that it holds its own secret
// entropy, without the entropy crossing the wire. The wire protocol lives in
// the protocol sub-package; this package stores entropy and keys, enforces
// the server's checks and maps clients to Vault tokens.
package backend

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// operationPrefix names this method's operations in Vault's OpenAPI output.
const operationPrefix = "entropy"

// Storage layout. Entropy and server private keys are seal-wrapped where
// the seal supports it.
const (
	configStorageKey  = "config"
	keyringStorageKey = "keyring"
	rolePrefix        = "role/"
	clientPrefix      = "client/"  // client/<role>/<client_id>: record and entropy (client_value.go)
	entropyPrefix     = "entropy/" // entropy/<role>/<client_id>/<generation>: schema version 1's entropy
)

type entropyBackend struct {
	*framework.Backend

	// roleLocks serialise read-modify-write of a role and its client list;
	// clientLocks serialise a client's enrollment, deletion and logins.
	roleLocks   []*locksutil.LockEntry
	clientLocks []*locksutil.LockEntry
	// keyringLock serialises creation and rotation of the server keys.
	keyringLock sync.Mutex
	// configLock serialises updates of the config.
	configLock sync.Mutex

	// parsedKeys caches parsed server private keys by key ID.
	parsedKeys sync.Map
	// challengeKeyCache holds the challenge MAC key (*[]byte) once read.
	challengeKeyCache atomic.Value

	nonces nonceStore
	// secondary caches whether logins go to the primary (replication.go).
	secondary secondaryCheck
	// lockout counts failed proofs per role, client and source (lockout.go).
	lockout *lockoutTable
	// cache holds the config, keyring and roles for the login path;
	// clients holds clients' records and entropy (client_cache.go).
	cache   *readCache
	clients *clientCache

	// Background housekeeping (tidy.go, periodic.go) runs on bgCtx, which
	// is cancelled when the backend is unmounted or reloaded.
	tidyState     tidyState
	periodicState periodicState
	bgCtx         context.Context
	bgCancel      context.CancelFunc

	// now is the backend's clock; tests move it.
	now func() time.Time
}

// Factory creates and sets up the backend; it is what the plugin serves.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend()
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func newBackend() *entropyBackend {
	b := &entropyBackend{
		roleLocks:   locksutil.CreateLocks(),
		clientLocks: locksutil.CreateLocks(),
		nonces:      newMemoryNonceStore(),
		lockout:     newLockoutTable(maxLockoutSources),
		cache:       newReadCache(),
		clients:     newClientCache(defaultClientCacheSize),
		now:         time.Now,
	}
	b.bgCtx, b.bgCancel = context.WithCancel(context.Background())
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeCredential,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{"login", "keys", "challenge"},
			SealWrapStorage: []string{keyringStorageKey, clientPrefix, entropyPrefix, challengeKeyStorageKey},
		},
		Paths: framework.PathAppend(
			[]*framework.Path{
				pathConfig(b),
				pathKeys(b),
				pathKeysRotate(b),
				pathRoleList(b),
				pathRole(b),
				pathEnroll(b),
				pathClientList(b),
				pathClient(b),
				pathLogin(b),
				pathChallenge(b),
				pathRoleRotate(b),
				pathClientRotate(b),
				pathClientIssue(b),
				pathClientLock(b),
				pathClientUnlock(b),
				pathTidy(b),
				pathTidyStatus(b),
			},
		),
		AuthRenew:      b.pathLoginRenew,
		Invalidate:     b.invalidateFunc,
		InitializeFunc: b.initializeMount,
		PeriodicFunc:   b.periodicFunc,
		Clean:          b.cleanup,
		RunningVersion: Version,
	}
	return b
}

func (b *entropyBackend) clientLock(role, clientID string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.clientLocks, role+"/"+clientID)
}

const backendHelp = `
The entropy auth method lets workloads log in by proving that they hold their
own secret entropy, enrolled once through a response-wrapped bundle. At each
login the client hashes byte ranges of its entropy chosen by a fresh nonce and
seals the digest to the server's public key; the entropy never crosses the
wire, and each proof is accepted once.

Operators create roles (role/<name>), enroll clients (role/<name>/enroll) and
manage them (role/<name>/client/<id>); clients log in at "login". See the
plugin's docs for the protocol and the operator guide.
`
