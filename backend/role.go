package backend

import (
	"context"
	"fmt"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// roleEntry is a role: what its clients' entropy looks like, how much of it
// a proof samples, where logins may come from, and the tokens they get.
type roleEntry struct {
	tokenutil.TokenParams

	EntropySize     int                           `json:"entropy_size"`
	SampleCount     int                           `json:"sample_count"`
	SampleLength    int                           `json:"sample_length"`
	LoginBoundCIDRs []*sockaddr.SockAddrMarshaler `json:"login_bound_cidrs"`
	ClientTTL       time.Duration                 `json:"client_ttl"`
}

func (r *roleEntry) sampling() protocol.Sampling {
	return protocol.Sampling{Count: r.SampleCount, Length: r.SampleLength}
}

func roleStorageKey(name string) string { return rolePrefix + name }

// role returns the named role, or nil if there is none.
func (b *entropyBackend) role(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	entry, err := s.Get(ctx, roleStorageKey(name))
	if err != nil {
		return nil, fmt.Errorf("reading role: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	r := &roleEntry{}
	if err := entry.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decoding role: %w", err)
	}
	return r, nil
}

func (b *entropyBackend) putRole(ctx context.Context, s logical.Storage, name string, r *roleEntry) error {
	entry, err := logical.StorageEntryJSON(roleStorageKey(name), r)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("writing role: %w", err)
	}
	return nil
}
