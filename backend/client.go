package backend

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// clientEntry is an enrolled client's metadata. The entropy lives apart, in
// entropyEntry, so that reading or changing metadata never touches it.
type clientEntry struct {
	ClientID   string `json:"client_id"`
	Role       string `json:"role"`
	Generation uint64 `json:"generation"`
	// The sampling and size the client was enrolled with: a proof must
	// follow them, whatever the role says now.
	EntropySize  int       `json:"entropy_size"`
	SampleCount  int       `json:"sample_count"`
	SampleLength int       `json:"sample_length"`
	CreatedAt    time.Time `json:"created_at"`
	// ExpiresAt is zero when the client never expires.
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *clientEntry) expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

func clientStorageKey(role, id string) string { return clientPrefix + role + "/" + id }

func entropyStorageKey(role, id string, generation uint64) string {
	return entropyPrefix + role + "/" + id + "/" + strconv.FormatUint(generation, 10)
}

// client returns the client's metadata, or nil if there is none.
func (b *entropyBackend) client(ctx context.Context, s logical.Storage, role, id string) (*clientEntry, error) {
	entry, err := s.Get(ctx, clientStorageKey(role, id))
	if err != nil {
		return nil, fmt.Errorf("reading client: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	c := &clientEntry{}
	if err := entry.DecodeJSON(c); err != nil {
		return nil, fmt.Errorf("decoding client: %w", err)
	}
	return c, nil
}

// entropy returns one generation of the client's entropy, or nil. The
// entry's value is the entropy itself: no encoding to parse on every login.
func (b *entropyBackend) entropy(ctx context.Context, s logical.Storage, role, id string, generation uint64) ([]byte, error) {
	entry, err := s.Get(ctx, entropyStorageKey(role, id, generation))
	if err != nil {
		return nil, fmt.Errorf("reading entropy: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	return entry.Value, nil
}

// putClient stores a new client: entropy first, so that a client record
// never exists without its entropy.
func (b *entropyBackend) putClient(ctx context.Context, s logical.Storage, c *clientEntry, entropy []byte) error {
	secret := &logical.StorageEntry{Key: entropyStorageKey(c.Role, c.ClientID, c.Generation), Value: entropy, SealWrap: true}
	if err := s.Put(ctx, secret); err != nil {
		return fmt.Errorf("writing entropy: %w", err)
	}
	entry, err := logical.StorageEntryJSON(clientStorageKey(c.Role, c.ClientID), c)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("writing client: %w", err)
	}
	return nil
}

// deleteClient removes a client: the metadata first, so that it can no
// longer log in or renew, then every generation of its entropy.
func (b *entropyBackend) deleteClient(ctx context.Context, s logical.Storage, role, id string) error {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()

	if err := s.Delete(ctx, clientStorageKey(role, id)); err != nil {
		return fmt.Errorf("deleting client: %w", err)
	}
	prefix := entropyPrefix + role + "/" + id + "/"
	gens, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing entropy: %w", err)
	}
	for _, g := range gens {
		if err := s.Delete(ctx, prefix+g); err != nil {
			return fmt.Errorf("deleting entropy: %w", err)
		}
	}
	return nil
}
