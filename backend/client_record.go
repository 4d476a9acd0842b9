package backend

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// putClientRecord writes a client's metadata only; its entropy is
// untouched. The caller holds the client's lock.
func (b *entropyBackend) putClientRecord(ctx context.Context, s logical.Storage, c *clientEntry) error {
	if err := putRecord(ctx, s, clientStorageKey(c.Role, c.ClientID), c); err != nil {
		return fmt.Errorf("writing client: %w", err)
	}
	return nil
}
