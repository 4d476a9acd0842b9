package load

import (
	"context"
	"fmt"
	"time"
)

// run runs p and then, when its logins made service tokens, revokes them
// (revokeLogins) before the next phase starts.
func (r *runner) run(ctx context.Context, p *phase) (Result, error) {
	res := p.run(ctx, r.h, r.pid)
	if p.token != "service" {
		return res, nil
	}
	return res, r.revokeLogins(ctx)
}

// revokeLogins revokes, synchronously and outside every timed window, the
// lease of each token the harness's logins made, on every mount it logs in
// to (sys/leases/revoke-prefix/auth/<mount>/login). Left to its TTL, a
// service token is revoked by Vault's expiration manager a TTL later, in
// whichever phase is running then: in a profile of a batch-token phase
// that followed service-token phases, those revocations (a token and a
// lease deleted, raft writes) took a sixth of Vault's CPU, charged to the
// method of that phase (docs/performance.md).
func (r *runner) revokeLogins(ctx context.Context) error {
	start := time.Now()
	for _, m := range []string{r.tgt.mount(), r.tgt.Floor, approleMount, r.tgt.Baseline} {
		if m == "" {
			continue
		}
		// sync (the default) returns once every lease is revoked.
		if _, err := r.vc.Logical().WriteWithContext(ctx, "sys/leases/revoke-prefix/auth/"+m+"/login", map[string]interface{}{"sync": true}); err != nil {
			return fmt.Errorf("revoking the tokens of auth/%s/login: %w", m, err)
		}
	}
	r.logf("revoked the phase's service tokens in %.1f s", time.Since(start).Seconds())
	return nil
}
