package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/helper/cidrutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// A login is checked, then recorded, in the manner of the cert method's
// verifyCredentials: checkProof and authenticate make every check of the
// protocol's verification (docs/protocol.md §8), cheap ones first, and
// write nothing; settle (login_settle.go) makes every write the outcome
// calls for and builds the receipt. authenticate and settle run under the
// client's lock, from the first read of its record to the last write.

// Refusal reasons of the server's own checks, next to protocol's.
var (
	errUnknownClient = errors.New("no such role or client")
	errClientExpired = errors.New("client has expired")
	errSourceAddress = errors.New("login comes from an address outside the role's login_bound_cidrs")
	// errStaleSuperseded refuses a proof of the superseded generation made
	// before its successor was first proven: not a clone (authenticate).
	errStaleSuperseded = errors.New("proof is made from the superseded entropy generation but was issued no later than the first proof of its successor: stale, not a clone")
)

// loginRefusal is a failed check: the caller learns nothing of it, the
// server log learns the reason. Any other error of a login is a fault.
type loginRefusal struct{ reason error }

func (r *loginRefusal) Error() string { return r.reason.Error() }
func (r *loginRefusal) Unwrap() error { return r.reason }

func refuse(reason error) error { return &loginRefusal{reason: reason} }

// login is one login attempt: the request and what the checks read, for
// the checks after them, settle and the response.
type login struct {
	ctx        context.Context
	storage    logical.Storage
	now        time.Time
	remoteAddr string
	in         *loginRequest

	// Read by checkProof.
	config  *configEntry
	keyring *keyring
	claims  *protocol.Claims
	role    *roleEntry
	// Read by authenticate: the client's record, which of its generations
	// the proof names, and that generation's entropy (it keys the receipt,
	// docs/protocol.md §9.1).
	client  *clientEntry
	kind    generationKind
	entropy *generationEntropy
	// overlap: the proof names the superseded generation within the role's
	// generation_overlap, and is an ordinary login (settle).
	overlap bool
}

func (b *entropyBackend) newLogin(ctx context.Context, req *logical.Request, in *loginRequest) *login {
	l := &login{ctx: ctx, storage: req.Storage, now: b.now(), in: in}
	if req.Connection != nil {
		l.remoteAddr = req.Connection.RemoteAddr
	}
	return l
}

// login checks a login, then records its outcome; it returns the receipt
// to seal for an accepted one. A refusal is a *loginRefusal.
func (b *entropyBackend) login(l *login) (*protocol.Receipt, error) {
	if err := b.checkProof(l); err != nil {
		return nil, err
	}
	lock := b.clientLock(l.in.role, l.in.clientID)
	lock.Lock()
	defer lock.Unlock()
	return b.settle(l, b.authenticate(l))
}

// checkProof makes the checks that need the proof alone, before the
// client's lock: a flood of one captured proof neither queues behind the
// client's logins nor reads its entropy. It writes nothing.
func (b *entropyBackend) checkProof(l *login) error {
	env := l.in.env
	if env == nil {
		var err error
		if env, err = protocol.ParseProof(l.in.proof); err != nil {
			return refuse(err)
		}
	}
	// The header's names are in the clear: comparing them with the
	// request's needs no key, no storage and no decryption, so a proof
	// presented for another client or role (a replay attempt, or a flood
	// of one captured proof) is refused before any of them
	// (docs/protocol.md §8.1, check 8). The caller knows both sides of the
	// comparison, so making it early reveals nothing.
	if err := env.CheckHeader(l.in.role, l.in.clientID); err != nil {
		return refuse(err)
	}
	// A source locked out of this client after failed proofs is refused
	// here, from memory, before any decryption (lockout.go).
	if b.sourceLocked(l) {
		return refuse(errSourceLocked)
	}
	var err error
	if l.config, err = b.cachedConfig(l.ctx, l.storage); err != nil {
		return err
	}
	b.clients.resize(l.config.ClientCacheSize)
	if l.keyring, err = b.cachedKeyring(l.ctx, l.storage); err != nil {
		return err
	}
	if l.keyring == nil || !l.keyring.accepts(env.Header.KeyID, l.now, l.config.KeyGracePeriod) {
		return refuse(fmt.Errorf("%w (key %s)", protocol.ErrKeyNotAccepted, env.Header.KeyID))
	}
	sk, err := b.privateKey(l.keyring, env.Header.KeyID)
	if err != nil {
		return err
	}
	if l.claims, err = env.Open(sk); err != nil {
		return refuse(err)
	}
	// The time check needs only the payload, so it comes before the role
	// and client are read. The caller chose issued_at, so refusing it
	// first reveals nothing; and neither these refusals nor those of step
	// 9 count toward lockout.
	if err := l.claims.CheckTime(l.now, l.config.AllowedClockSkew); err != nil {
		return refuse(err)
	}
	// Tighter than the skew on this side: the replay watermark follows the
	// latest issued_at accepted (nonce.go).
	if l.claims.IssuedAt().After(l.now.Add(maxFutureSkew)) {
		return refuse(fmt.Errorf("%w (more than %s ahead)", protocol.ErrFromFuture, maxFutureSkew))
	}
	// A replay of an accepted proof is refused from memory; settle's claim
	// stays the atomic check.
	if b.nonces.claimed(l.claims.NonceID(), l.claims.IssuedAt()) {
		return refuse(protocol.ErrReplay)
	}
	if l.role, err = b.cachedRole(l.ctx, l.storage, l.in.role); err != nil {
		return err
	}
	if l.role == nil {
		return refuse(errUnknownClient)
	}
	return nil
}

// authenticate checks the proof against the client's record and entropy,
// up to and including the digest comparison; the caller holds the client's
// lock. It writes nothing: a verified proof of the superseded generation
// (a clone) returns nil with l.kind genSuperseded, and settle records it
// like every other outcome.
func (b *entropyBackend) authenticate(l *login) error {
	var err error
	if l.client, err = b.client(l.ctx, l.storage, l.in.role, l.in.clientID); err != nil {
		return err
	}
	c, r := l.client, l.role
	switch {
	case c == nil:
		return refuse(errUnknownClient)
	case !c.boundTo(r):
		return refuse(errStaleClient)
	case c.expired(l.now):
		return refuse(errClientExpired)
	case c.locked(l.now):
		return refuse(fmt.Errorf("%w (%s)", errClientLocked, c.LockReason))
	case len(r.LoginBoundCIDRs) > 0 && !cidrutil.RemoteAddrIsOk(l.remoteAddr, r.LoginBoundCIDRs):
		return refuse(errSourceAddress)
	}

	claims := l.claims
	if len(claims.Challenge()) > 0 {
		key, err := b.challengeKey(l.ctx, l.storage)
		if err != nil {
			return err
		}
		if err := claims.CheckChallenge(key, l.now); err != nil {
			return refuse(err)
		}
	}
	g := claims.Generation()
	var sampling protocol.Sampling
	l.kind, sampling = c.generationOf(g)
	if l.kind == genUnknown {
		return refuse(fmt.Errorf("%w (generation %d; the client is at %d)", protocol.ErrGeneration, g, c.Generation))
	}
	// A proof of the superseded generation issued no later than the proof
	// that first proved its successor was made before the client moved on:
	// withheld by someone on the path, or delayed. It is stale, not a
	// clone (docs/protocol.md §14.3): refused, nothing counted or locked,
	// its entropy not read. Both times are the client's own clock.
	//
	// Within the role's generation_overlap after the successor was first
	// proven (the server's clock), a proof of the superseded generation is
	// neither: copies of the previous deployment are still running, and
	// their proofs are ordinary logins (docs/protocol.md §14.4).
	l.overlap = l.kind == genSuperseded && c.inOverlap(r, l.now)
	if l.kind == genSuperseded && !l.overlap && !claims.IssuedAt().After(c.SupersededAt) {
		return refuse(fmt.Errorf("%w (generation %d, issued at %s, no later than the first proof of generation %d)",
			errStaleSuperseded, g, claims.IssuedAt().UTC().Format(time.RFC3339), c.Generation))
	}
	if l.entropy = c.entropyOf(l.kind); l.entropy == nil {
		return fmt.Errorf("client %s/%s has no entropy for its %s generation %d", c.Role, c.ClientID, l.kind, g)
	}
	if err := claims.Verify(l.entropy.raw(), sampling); err != nil {
		return refuse(err)
	}
	// A verified proof of the superseded generation outside the overlap is
	// a clone whatever its mode. Any other proof without a challenge will never pass in
	// challenge mode: the client builds another one, and this one is not
	// claimed.
	if r.ChallengeRequired && len(claims.Challenge()) == 0 && (l.kind != genSuperseded || l.overlap) {
		return refuse(protocol.ErrChallengeRequired)
	}
	return nil
}
