package backend

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// maxKeys bounds the keyring. A retired key is kept, and accepted, until
// its grace period ends, whatever happens meanwhile: that is what the
// accepted_until published for it promises. So the keyring holds the
// current key and every key retired within the last key_grace_period, and
// the bound is kept by refusing what would break it (a config whose grace
// spans too many rotation periods, a rotation while the keyring is full),
// never by dropping a key early. 32 keys fit hourly rotation with a day of
// grace (25 keys); 32 keys of the largest suite (RSA-3072, about 3 KiB as
// stored) make an entry of about 100 KiB.
const maxKeys = 32

// errKeyringFull is a rotation refused because every key in the keyring is
// within its grace period and the keyring holds maxKeys.
var errKeyringFull = errors.New("keyring full")

// keyring is the server's key pairs, newest (current) first.
type keyring struct {
	SchemaVersion int         `json:"schema_version"`
	Keys          []storedKey `json:"keys"`
}

type storedKey struct {
	ID         string    `json:"id"`
	Suite      string    `json:"suite"`
	PrivateKey []byte    `json:"private_key"`
	PublicKey  []byte    `json:"public_key"`
	CreatedAt  time.Time `json:"created_at"`
	// RetiredAt is when a newer key became current; zero for the current
	// key.
	RetiredAt time.Time `json:"retired_at"`
}

// acceptedUntil is the end of the key's grace period; zero for the current
// key, which has none.
func (k *storedKey) acceptedUntil(grace time.Duration) time.Time {
	if k.RetiredAt.IsZero() {
		return time.Time{}
	}
	return k.RetiredAt.Add(grace)
}

// acceptedAt reports whether the i-th key opens proofs at now: the current
// key always, a retired key until its grace period ends.
func (kr *keyring) acceptedAt(i int, now time.Time, grace time.Duration) bool {
	return i == 0 || now.Before(kr.Keys[i].RetiredAt.Add(grace))
}

// accepts reports whether the keyring opens proofs sealed to the key with
// this ID at now.
func (kr *keyring) accepts(id protocol.KeyID, now time.Time, grace time.Duration) bool {
	want := id.String()
	for i := range kr.Keys {
		if kr.Keys[i].ID == want {
			return kr.acceptedAt(i, now, grace)
		}
	}
	return false
}

// accepted is a copy of the keyring holding only the keys it accepts at
// now, current first: what is published, and what is kept when the
// keyring is rewritten.
func (kr *keyring) accepted(now time.Time, grace time.Duration) *keyring {
	out := &keyring{Keys: make([]storedKey, 0, len(kr.Keys))}
	for i := range kr.Keys {
		if kr.acceptedAt(i, now, grace) {
			out.Keys = append(out.Keys, kr.Keys[i])
		}
	}
	return out
}

func (k *storedKey) private() (*protocol.PrivateKey, error) {
	s, err := protocol.ParseSuite(k.Suite)
	if err != nil {
		return nil, err
	}
	return protocol.ParsePrivateKey(s, k.PrivateKey)
}

// privateKey returns the private key with the given ID, or nil if the
// keyring holds none. Parsed keys are cached by ID: a key ID is derived
// from the public key, so an ID names one key for ever, and the keyring read
// from storage still decides whether the key is valid.
func (b *entropyBackend) privateKey(kr *keyring, id protocol.KeyID) (*protocol.PrivateKey, error) {
	want := id.String()
	for i := range kr.Keys {
		if kr.Keys[i].ID != want {
			continue
		}
		if sk, ok := b.parsedKeys.Load(want); ok {
			return sk.(*protocol.PrivateKey), nil
		}
		sk, err := kr.Keys[i].private()
		if err != nil {
			return nil, err
		}
		if sk.Public().ID() != id {
			return nil, fmt.Errorf("stored key %s does not match its ID", want)
		}
		// A miss happens once per key: the moment to forget keys that have
		// left the keyring, so that rotation never grows the cache.
		b.parsedKeys.Range(func(cached, _ any) bool {
			if !kr.has(cached.(string)) {
				b.parsedKeys.Delete(cached)
			}
			return true
		})
		b.parsedKeys.Store(want, sk)
		return sk, nil
	}
	return nil, nil
}

func (kr *keyring) has(id string) bool {
	for i := range kr.Keys {
		if kr.Keys[i].ID == id {
			return true
		}
	}
	return false
}

// publicKeys is the keyring as clients see it (the `keys` endpoint and the
// enrollment bundle): public keys only, current first.
func (kr *keyring) publicKeys() []map[string]interface{} {
	out := make([]map[string]interface{}, 0, len(kr.Keys))
	for i, k := range kr.Keys {
		out = append(out, map[string]interface{}{
			"key_id":     k.ID,
			"suite":      k.Suite,
			"public_key": base64.StdEncoding.EncodeToString(k.PublicKey),
			"created_at": k.CreatedAt.UTC().Format(time.RFC3339),
			"current":    i == 0,
		})
	}
	return out
}

func readKeyring(ctx context.Context, s logical.Storage) (*keyring, error) {
	entry, err := s.Get(ctx, keyringStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	return decodeKeyring(entry)
}

// keyring returns the server keys, creating the first key (of the
// configured suite) if there is none yet. Only authenticated writers and
// the mount's initialization call it: the unauthenticated endpoints read
// the keyring (publishedKeyring) and never create it.
func (b *entropyBackend) keyring(ctx context.Context, s logical.Storage) (*keyring, error) {
	kr, err := readKeyring(ctx, s)
	if err != nil || kr != nil {
		return kr, err
	}
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	// Re-read under the lock: another request may have created it.
	if kr, err = readKeyring(ctx, s); err != nil || kr != nil {
		return kr, err
	}
	c, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	return b.nonLockedAddKey(ctx, s, &keyring{}, c)
}

// rotateKeys makes a new current key of the configured suite. It returns
// errKeyringFull, and changes nothing, if the keyring cannot take one more
// key without dropping one still in its grace period.
func (b *entropyBackend) rotateKeys(ctx context.Context, s logical.Storage) (*keyring, error) {
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	c, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	kr, err := readKeyring(ctx, s)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		kr = &keyring{}
	}
	return b.nonLockedAddKey(ctx, s, kr, c)
}

// keyringFullError explains a refused rotation to the operator.
func keyringFullError(kr *keyring, grace time.Duration) error {
	oldest := kr.Keys[len(kr.Keys)-1]
	return fmt.Errorf("%w: the keyring holds %d keys, the most it keeps, and each is still within key_grace_period; "+
		"the oldest (%s) is accepted until %s, rotate after that", errKeyringFull, len(kr.Keys), oldest.ID,
		formatTime(oldest.RetiredAt.Add(grace)))
}

// nonLockedAddKey prepends a new key of the configured suite to the keys kr
// still accepts under the configured grace, and stores the result. Keys
// past their grace period are dropped; no other key is. The caller holds
// keyringLock.
func (b *entropyBackend) nonLockedAddKey(ctx context.Context, s logical.Storage, kr *keyring, c *configEntry) (*keyring, error) {
	suite, err := protocol.ParseSuite(c.KeySuite)
	if err != nil {
		return nil, fmt.Errorf("config key_suite: %w", err)
	}
	grace := c.KeyGracePeriod
	now := b.now().UTC()
	kept := kr.accepted(now, grace)
	if len(kept.Keys) >= maxKeys {
		return nil, keyringFullError(kept, grace)
	}
	sk, err := protocol.GenerateKey(suite)
	if err != nil {
		return nil, fmt.Errorf("generating server key: %w", err)
	}
	k := storedKey{
		ID:         sk.Public().ID().String(),
		Suite:      suite.String(),
		PrivateKey: sk.Bytes(),
		PublicKey:  sk.Public().Bytes(),
		CreatedAt:  now,
	}
	next := &keyring{Keys: append([]storedKey{k}, kept.Keys...)}
	if len(next.Keys) > 1 {
		next.Keys[1].RetiredAt = now
	}
	// With no grace period the key just retired is not accepted any more.
	next = next.accepted(now, grace)
	if err := b.nonLockedPutKeyring(ctx, s, next); err != nil {
		return nil, err
	}
	b.Logger().Info("server key created", "key_id", k.ID, "suite", k.Suite)
	return next, nil
}

// nonLockedPruneKeys drops the keys past their grace period, if any. The
// caller holds keyringLock.
func (b *entropyBackend) nonLockedPruneKeys(ctx context.Context, s logical.Storage, kr *keyring, grace time.Duration) error {
	kept := kr.accepted(b.now(), grace)
	if len(kept.Keys) == len(kr.Keys) {
		return nil
	}
	if err := b.nonLockedPutKeyring(ctx, s, kept); err != nil {
		return err
	}
	b.Logger().Info("server keys past their grace period dropped", "dropped", len(kr.Keys)-len(kept.Keys))
	return nil
}

func (b *entropyBackend) nonLockedPutKeyring(ctx context.Context, s logical.Storage, kr *keyring) error {
	if err := b.storeCached(ctx, s, keyringStorageKey, kr); err != nil {
		return fmt.Errorf("writing keyring: %w", err)
	}
	return nil
}
