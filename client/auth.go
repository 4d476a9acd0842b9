package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// DefaultStatePath is the state file used when neither an option nor
// VAULT_ENTROPY_STATE_FILE (StateFileEnv) names one:
// ~/.vault-entropy/state.json.
func DefaultStatePath() string {
	if p := os.Getenv(StateFileEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".vault-entropy", "state.json")
	}
	return filepath.Join(home, ".vault-entropy", "state.json")
}

// Errors of a login, told apart with errors.Is.
var (
	// ErrLoginRefused: Vault refused the proof. Vault does not say why
	// (every refusal looks the same to the caller); its server log does.
	// The refusals the server names (protocol.ErrKeyNotAccepted,
	// protocol.ErrChallengeRequired and protocol.ErrProofPredatesWindow)
	// are handled by Login and, when they persist, returned wrapped in
	// this error too.
	ErrLoginRefused = errors.New("Vault refused the login")
	// ErrNoReceipt: a login response that carries a token but no receipt.
	// Only the server holding the private key the proof was sealed to can
	// make a receipt; a response without one may come from a proxy or a
	// fake server, and its token is discarded.
	ErrNoReceipt = errors.New("the login response carries no receipt")
	// ErrReceipt: a login response whose receipt does not open with this
	// login's proof, confirms another login, or does not match the token.
	// Its token is discarded.
	ErrReceipt = errors.New("the login response's receipt is not valid for this login")
)

// EntropyAuth logs in with an entropy proof. It implements api.AuthMethod,
// so client.Auth().Login(ctx, auth) sets the client's token.
type EntropyAuth struct {
	statePath string
	mountPath string
	now       func() time.Time
	// readOnly: the state is never written nor locked (source.go); it is
	// read from statePath, or is fixed, read once from the environment
	// or a reader. source names it in messages.
	readOnly  bool
	fixed     *State
	source    string
	sourceErr error
	logger    *slog.Logger
	notes     notes
	// beforeSave, when set, runs after a login's response has been
	// checked and before the state it changed is saved; an error stops
	// the login there. Tests use it to stand for a crash in between.
	beforeSave func() error
}

var _ api.AuthMethod = (*EntropyAuth)(nil)

// Option configures an EntropyAuth.
type Option func(*EntropyAuth)

// WithStateFile sets the state file (default: DefaultStatePath), which
// logins read and write under its lock. It replaces a read-only source
// given before it.
func WithStateFile(path string) Option {
	return func(a *EntropyAuth) {
		a.statePath, a.readOnly, a.fixed, a.source, a.sourceErr = path, false, nil, path, nil
	}
}

// WithMountPath overrides the mount path recorded in the state file, for
// example "auth/entropy-eu".
func WithMountPath(path string) Option {
	return func(a *EntropyAuth) { a.mountPath = strings.Trim(path, "/") }
}

// NewEntropyAuth returns an auth method for client.Auth().Login.
func NewEntropyAuth(opts ...Option) (*EntropyAuth, error) {
	path := DefaultStatePath()
	a := &EntropyAuth{statePath: path, source: path, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	if a.sourceErr != nil {
		return nil, a.sourceErr
	}
	if a.statePath == "" && a.fixed == nil {
		return nil, errors.New("no state file")
	}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	return a, nil
}

// StatePath is the state file this auth method reads: "" for a state read
// from the environment or a reader (see StateSource).
func (a *EntropyAuth) StatePath() string { return a.statePath }

func (a *EntropyAuth) mount(s *State) string {
	if a.mountPath != "" {
		return a.mountPath
	}
	return s.MountPath
}

// unauthenticated is a copy of c, with its headers (VAULT_NAMESPACE and any
// others) but without its token: login, challenge and keys are
// unauthenticated paths, and a token sent there would be sent for nothing.
// It is hardened (see Harden): bounded responses, no redirect elsewhere.
func unauthenticated(c *api.Client) (*api.Client, error) {
	lc, err := Harden(c)
	if err != nil {
		return nil, err
	}
	lc.ClearToken()
	// A retried login would resend the same single-use proof, which the
	// server refuses as a replay; the caller retries with a fresh proof.
	lc.SetMaxRetries(0)
	return lc, nil
}

// A server that has just started refuses proofs issued at or before its
// replay watermark W (docs/protocol.md §8.3), with a named refusal: W is at
// most 7 s past the last login it accepted before the start (a 2 s step
// past a proof at most 5 s ahead), so a client whose clock is behind the
// server's by d is refused for up to 8 s + d after the start, and d can be
// as large as the skew the server allows (10 minutes at most). Login
// retries with a new proof after waits that double from
// windowRetryFirst, the last one cut so that they add up to
// windowRetrySpan = 10 min + 8 s: the whole window in the worst case, with
// 8 retries (9 proofs) at most. No more: the refusal is unauthenticated,
// and each retry sends a fresh valid proof that whoever answered could keep
// (a harvested proof is at worst one login, or a stale proof after a
// rotation, §14.3). The caller's context ends the wait sooner.
var (
	windowRetryFirst = 4 * time.Second
	windowRetrySpan  = 10*time.Minute + 8*time.Second
)

// windowRetryDelays are the waits before each retry after a "make a new
// proof" refusal: windowRetryFirst, doubling, the last cut so that they add
// up to windowRetrySpan.
func windowRetryDelays() []time.Duration {
	var out []time.Duration
	total := time.Duration(0)
	for d := windowRetryFirst; total < windowRetrySpan; d *= 2 {
		d = min(d, windowRetrySpan-total)
		out = append(out, d)
		total += d
	}
	return out
}

// sleepContext waits d, or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Login logs in to Vault with a fresh proof and keeps the state file up to
// date, all under the state's lock (see lockState), so that processes
// sharing a state file take turns:
//
//   - it proves the pending generation when the state has one, else the
//     current one, in challenge mode when the state says the role
//     requires it;
//   - it accepts a response only with a receipt that opens with this
//     login's proof and confirms it, and a token whose login_id metadata
//     is the receipt's; otherwise the token is discarded (ErrNoReceipt,
//     ErrReceipt);
//   - it saves what the receipt brings (a proven pending generation
//     becomes current, a new generation is kept as pending, new server
//     keys, the role's challenge mode), atomically, before returning the
//     token;
//   - when Vault refuses the proof's server key it fetches the current
//     keys and tries once more, and when Vault says the role requires
//     challenge mode it records that and tries once more in challenge
//     mode: at most one retry for each;
//   - when Vault refuses a proof of the pending generation without naming
//     why, it proves the current generation instead, once;
//   - when Vault says the proof predates its replay window (it started,
//     or its leader changed, since the proof was issued), it tries again
//     with a new proof after the waits of windowRetryDelays (8 retries
//     over at most 10 min 8 s), or until ctx ends.
//
// A read-only state (source.go) takes no lock, proves its current
// generation, and keeps nothing: what the receipt brings is reported once
// through the logger, and anything a retry learns (fetched keys, challenge
// mode) lasts for this login only.
//
// It does not send the client's token: these paths are unauthenticated.
func (a *EntropyAuth) Login(ctx context.Context, c *api.Client) (*api.Secret, error) {
	lc, err := unauthenticated(c)
	if err != nil {
		return nil, err
	}
	if !a.readOnly {
		unlock, err := lockExisting(ctx, a.statePath)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	loaded, err := a.ReadState()
	if err != nil {
		return nil, err
	}
	s := loaded // the state this login proves from
	if a.readOnly {
		s = a.readOnlyView(loaded)
	}
	mount := a.mount(s)
	// Keys fetched from the unauthenticated keys endpoint are untrusted:
	// they are used for the retry but stored only once a receipt has come
	// back for a proof sealed to one of them, and a receipt proves that its
	// maker holds this client's entropy as well as the key's private half
	// (docs/protocol.md §9.1). A fake server that serves its own key can
	// open the retry, but cannot make its receipt.
	keys := s.ServerKeys
	fetchedKeys := false
	windowDelays := windowRetryDelays()
	fellBack := false
	for {
		secret, err := a.loginOnce(ctx, lc, mount, s, keys)
		switch {
		case err == nil:
			return secret, nil
		case isBareRefusal(err) && s.Pending != nil && !fellBack:
			// The server refused the pending generation without a word: it
			// may not know it (restored from a backup taken before it was
			// issued). Prove the current generation instead, once; the
			// server does not count a proof of a generation it does not
			// hold toward lockout, and every check that would refuse the
			// pending generation for another reason (a lock, an address, a
			// clock) refuses the current one before it is compared, so the
			// fallback never reaches clone detection for those. The state
			// is saved only if the fallback succeeds.
			fellBack = true
			current := *s
			current.Pending = nil
			s = &current
		case errors.Is(err, protocol.ErrKeyNotAccepted) && !fetchedKeys:
			fetchedKeys = true
			refused, _ := currentKey(keys)
			fetched, ferr := fetchKeys(ctx, lc, mount)
			if ferr != nil {
				return nil, fmt.Errorf("%w (and %w)", err, ferr)
			}
			// A retry with the same key would be refused the same way.
			if current, _ := currentKey(fetched); refused != nil && current.ID() == refused.ID() {
				return nil, fmt.Errorf("%w (and %s/keys still names that key, %s, current)", err, mount, current.ID())
			}
			keys = fetched
		case errors.Is(err, protocol.ErrProofPredatesWindow) && len(windowDelays) > 0:
			// The server started (restart or leader change) after this
			// proof's issued_at, give or take its watermark step and this
			// client's clock: a new proof passes once the server's window
			// has opened.
			wait := windowDelays[0]
			windowDelays = windowDelays[1:]
			if err := sleepContext(ctx, wait); err != nil {
				// Not a refusal: the server asked for a new proof, and the
				// caller stopped waiting for it.
				return nil, fmt.Errorf("waiting to retry with a new proof after the server started: %w", err)
			}
		case errors.Is(err, protocol.ErrChallengeRequired) && !s.ChallengeRequired:
			// Saved now, so that the next login starts in challenge mode
			// even if this one fails; the receipt confirms it later. A
			// read-only state keeps it for this login only.
			s.ChallengeRequired, loaded.ChallengeRequired = true, true
			if a.readOnly {
				a.noteChallengeMode()
				continue
			}
			if err := loaded.saveLocked(a.statePath); err != nil {
				return nil, fmt.Errorf("saving the state: %w", err)
			}
		default:
			if fetchedKeys && errors.Is(err, protocol.ErrKeyNotAccepted) {
				return nil, fmt.Errorf("%w (after fetching the current keys from %s/keys)", err, mount)
			}
			return nil, err
		}
	}
}

// loginOnce makes one proof with the given server keys, sends it, checks
// the response and saves the state it changes. s is the state as loaded
// under the lock; keys are the server keys to seal to.
func (a *EntropyAuth) loginOnce(ctx context.Context, lc *api.Client, mount string, s *State, keys []ServerKey) (*api.Secret, error) {
	at, err := a.newAttempt(ctx, lc, mount, s, keys)
	if err != nil {
		return nil, err
	}
	secret, err := lc.Logical().WriteWithContext(ctx, at.req.Path, at.req.Data())
	if err != nil {
		return nil, refusal(err, at.req)
	}
	receipt, err := checkResponse(secret, at.session)
	if err != nil {
		return nil, err
	}
	next, changed, err := s.advance(at.generation, keys, receipt)
	if err != nil {
		return nil, err
	}
	if a.readOnly {
		// The receipt is checked in full (advance refuses one that
		// leads to an invalid state); what it brings is reported, and
		// dropped: s came from readOnlyView, so it proved the current
		// generation, and the next login starts from the source again.
		if changed {
			a.noteIgnored(s, next)
		}
		return secret, nil
	}
	if changed {
		if a.beforeSave != nil {
			if err := a.beforeSave(); err != nil {
				return nil, err
			}
		}
		// The token is returned only once the state is saved: a caller
		// that got a token may rely on the next login working from the
		// file. If saving fails the token is discarded (it expires with
		// its TTL); the next login proves what the old state holds, which
		// the server still accepts and answers with the same pending
		// generation again.
		if err := next.saveLocked(a.statePath); err != nil {
			return nil, fmt.Errorf("logged in, but saving the state failed, so the token was discarded: %w", err)
		}
	}
	return secret, nil
}

// refusal describes an error Vault returned for a login: a refusal (403,
// or 400 for a request the server will not take) is ErrLoginRefused, and a
// 400 whose text is one of the refusals the server names is that protocol
// error too.
func refusal(err error, lr *LoginRequest) error {
	var re *api.ResponseError
	if !errors.As(err, &re) || (re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusBadRequest) {
		return err
	}
	// Vault's own words, made safe for a terminal or a log line.
	text := strings.Join(sanitizeAll(re.Errors), "; ")
	e := &refusedError{msg: fmt.Sprintf("%s of client %s of role %s (%d at %s): %s", ErrLoginRefused, lr.ClientID, lr.Role, re.StatusCode, lr.Path, text)}
	if re.StatusCode == http.StatusBadRequest {
		e.named = protocol.NamedRefusalIn(text)
	}
	return e
}

// isBareRefusal reports whether err is a refusal the server did not name
// (403 permission denied).
func isBareRefusal(err error) bool {
	var re *refusedError
	return errors.As(err, &re) && re.named == nil
}

// refusedError is a refused login; its message holds Vault's own text.
type refusedError struct {
	msg   string
	named error // the protocol refusal Vault named, if any
}

func (e *refusedError) Error() string { return e.msg }

func (e *refusedError) Unwrap() []error {
	if e.named == nil {
		return []error{ErrLoginRefused}
	}
	return []error{ErrLoginRefused, e.named}
}

// checkResponse accepts a login response only with a token and a receipt
// that confirms this login, and returns the receipt.
func checkResponse(secret *api.Secret, session *protocol.ClientSession) (*protocol.Receipt, error) {
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, errors.New("login response holds no token")
	}
	sealed, _ := secret.Data["receipt"].(string)
	if sealed == "" {
		return nil, ErrNoReceipt
	}
	r, err := session.OpenReceipt(sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	// The receipt names the login; the token must be the one issued for
	// it, or a token from another login could ride on this receipt.
	if secret.Auth.Metadata["login_id"] != session.LoginID() {
		return nil, fmt.Errorf("%w: the token's login_id is not this login's", ErrReceipt)
	}
	return r, nil
}

// advance returns the state after a login that proved generation proven
// with keys, confirmed by receipt r, and whether it differs from s.
func (s *State) advance(proven uint64, keys []ServerKey, r *protocol.Receipt) (*State, bool, error) {
	next := *s
	changed := false
	if p := s.Pending; p != nil && proven == p.Generation {
		// The server has the pending generation as current now; the
		// previous one is superseded, and proving it again would be
		// taken for a clone.
		next.Generation, next.Entropy, next.SampleCount, next.SampleLength = p.Generation, p.Entropy, p.SampleCount, p.SampleLength
		next.Pending = nil
		changed = true
	}
	if rot := r.Rotation; rot != nil {
		if rot.Generation != next.Generation+1 {
			return nil, false, fmt.Errorf("%w: it issues generation %d after generation %d", ErrReceipt, rot.Generation, next.Generation)
		}
		next.Pending = &PendingGeneration{Generation: rot.Generation, Entropy: rot.Entropy, SampleCount: rot.SampleCount, SampleLength: rot.SampleLength}
		changed = true
	}
	if !sameKeys(keys, s.ServerKeys) {
		next.ServerKeys, changed = keys, true
	}
	if len(r.ServerKeys) > 0 && !sameKeys(r.ServerKeys, next.ServerKeys) {
		next.ServerKeys, changed = r.ServerKeys, true
	}
	if r.ChallengeRequired != s.ChallengeRequired {
		next.ChallengeRequired, changed = r.ChallengeRequired, true
	}
	if v := r.ReadsProofVersion(); v != max(s.ProofVersion, 1) {
		// Up after a server upgrade; down too, after a downgrade that
		// kept the keys (the receipt is sealed: no one else can say so).
		next.ProofVersion, changed = v, true
	}
	if err := next.Validate(); err != nil {
		return nil, false, fmt.Errorf("%w: the state it leads to is not valid: %v", ErrReceipt, err)
	}
	return &next, changed, nil
}

func sameKeys(a, b []ServerKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].KeyID != b[i].KeyID || a[i].Suite != b[i].Suite || a[i].Current != b[i].Current ||
			!bytes.Equal(a[i].PublicKey, b[i].PublicKey) {
			return false
		}
	}
	return true
}
