package backend

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// keysRetained is how many server keys the keyring holds: the current key
// and the one before it, so that clients holding the previous public key
// keep working across one rotation.
const keysRetained = 2

// keyring is the server's key pairs, newest (current) first.
type keyring struct {
	Keys []storedKey `json:"keys"`
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

// accepts reports whether the keyring opens proofs sealed to the key with
// this ID at now: the current key always, the previous one within its
// grace period.
func (kr *keyring) accepts(id protocol.KeyID, now time.Time, grace time.Duration) bool {
	want := id.String()
	for i := range kr.Keys {
		k := &kr.Keys[i]
		if k.ID != want {
			continue
		}
		if i == 0 {
			return true
		}
		// Keyrings written before RetiredAt existed: the key retired when
		// the one before it in the list was created.
		until := k.acceptedUntil(grace)
		if k.RetiredAt.IsZero() {
			until = kr.Keys[i-1].CreatedAt.Add(grace)
		}
		return now.Before(until)
	}
	return false
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
	kr := &keyring{}
	if err := entry.DecodeJSON(kr); err != nil {
		return nil, fmt.Errorf("decoding keyring: %w", err)
	}
	return kr, nil
}

// keyring returns the server keys, creating the first key (of the
// configured suite) if there is none yet.
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
	return b.nonLockedAddKey(ctx, s, &keyring{}, c.suite())
}

// rotateKeys makes a new current key of the given suite.
func (b *entropyBackend) rotateKeys(ctx context.Context, s logical.Storage, suite protocol.Suite) (*keyring, error) {
	b.keyringLock.Lock()
	defer b.keyringLock.Unlock()
	kr, err := readKeyring(ctx, s)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		kr = &keyring{}
	}
	return b.nonLockedAddKey(ctx, s, kr, suite)
}

// nonLockedAddKey prepends a new key to kr, drops keys beyond keysRetained
// and stores the result. The caller holds keyringLock.
func (b *entropyBackend) nonLockedAddKey(ctx context.Context, s logical.Storage, kr *keyring, suite protocol.Suite) (*keyring, error) {
	sk, err := protocol.GenerateKey(suite)
	if err != nil {
		return nil, fmt.Errorf("generating server key: %w", err)
	}
	k := storedKey{
		ID:         sk.Public().ID().String(),
		Suite:      suite.String(),
		PrivateKey: sk.Bytes(),
		PublicKey:  sk.Public().Bytes(),
		CreatedAt:  b.now().UTC(),
	}
	next := &keyring{Keys: append([]storedKey{k}, kr.Keys...)}
	if len(next.Keys) > 1 && next.Keys[1].RetiredAt.IsZero() {
		next.Keys[1].RetiredAt = k.CreatedAt
	}
	if len(next.Keys) > keysRetained {
		next.Keys = next.Keys[:keysRetained]
	}
	entry, err := logical.StorageEntryJSON(keyringStorageKey, next)
	if err != nil {
		return nil, err
	}
	err = s.Put(ctx, entry)
	b.cache.invalidate(keyringStorageKey) // even after a failed write: it may have landed
	if err != nil {
		return nil, fmt.Errorf("writing keyring: %w", err)
	}
	b.Logger().Info("server key created", "key_id", k.ID, "suite", k.Suite)
	return next, nil
}
