package backend

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"
)

// updateClient applies change to a client's record under the client's
// lock, re-reading the record after taking it, and writes the record only.
// A missing client is a 404 error and writes nothing.
func (b *entropyBackend) updateClient(ctx context.Context, s logical.Storage, role, id string, change func(c *clientEntry)) (*clientEntry, error) {
	lock := b.clientLock(role, id)
	lock.Lock()
	defer lock.Unlock()

	c, err := b.client(ctx, s, role, id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errClientNotFound(role, id)
	}
	change(c)
	if err := b.putClientRecord(ctx, s, c); err != nil {
		return nil, err
	}
	return c, nil
}

// errClientNotFound is what operator endpoints answer for a client that
// does not exist. Operators may know which clients exist; callers of the
// unauthenticated endpoints never see this.
func errClientNotFound(role, id string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("client %q does not exist in role %q", id, role))
}
