package backend

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
)

// secondaryCheck caches whether this mount is a replicated mount on a
// performance secondary (Vault Enterprise), where logins are handed on to
// the primary like every write. Asking Vault is a round trip per question
// (LocalMount, ReplicationState), two per login if asked each time, where
// the answer changes only when an operator promotes or demotes a cluster,
// and then Vault sets its mounts up again: so it is asked at most once per
// secondaryCheckInterval.
type secondaryCheck struct {
	checkedAt atomic.Int64 // unix nanoseconds; 0: never
	secondary atomic.Bool
}

const secondaryCheckInterval = time.Second

// replicatedSecondary reports whether logins to this mount must be handed
// on to the primary cluster.
func (b *entropyBackend) replicatedSecondary() bool {
	now := time.Now().UnixNano()
	if at := b.secondary.checkedAt.Load(); at != 0 && now-at < int64(secondaryCheckInterval) {
		return b.secondary.secondary.Load()
	}
	sys := b.System()
	is := !sys.LocalMount() && sys.ReplicationState().HasState(consts.ReplicationPerformanceSecondary)
	b.secondary.secondary.Store(is)
	b.secondary.checkedAt.Store(now)
	return is
}
