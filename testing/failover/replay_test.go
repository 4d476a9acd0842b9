package failover

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// replayAll sends every accepted proof again to every node and checks that
// none is accepted: Vault's 403 for a proof the active node remembers, the
// named "make a new proof" 400 for one issued before the active node's
// window opened (accepted by a node before it: it cannot tell, so it
// refuses). It reports the answers by when the proof was first accepted.
func replayAll(t *testing.T, l *load, addrs []string, firstKill time.Time) {
	t.Helper()
	l.mu.Lock()
	proofs := append([]acceptedProof(nil), l.accepted...)
	l.mu.Unlock()
	type job struct {
		p    acceptedProof
		node int
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var before, after [len(outcomeNames)]int
	hc := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := range jobs {
				a := sendRetrying(hc, addrs[j.node], j.p.req)
				mu.Lock()
				if j.p.at.Before(firstKill) {
					before[a.outcome]++
				} else {
					after[a.outcome]++
				}
				mu.Unlock()
				if a.outcome != refused && a.outcome != window {
					t.Errorf("an accepted proof of client %s (accepted by node%d), sent again to node%d: %s (%d: %s), want a refusal",
						j.p.clientID, j.p.node+1, j.node+1, a.outcome, a.status, a.detail)
				}
			}
		})
	}
	for _, p := range proofs {
		for node := range addrs {
			jobs <- job{p, node}
		}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d accepted proofs sent again to each of the %d nodes: accepted before the first kill: %s; after it: %s",
		len(proofs), len(addrs), counts(before), counts(after))
}

// sendRetrying sends a replay, again (up to three times) when no node
// answered it: a lost answer is no verdict.
func sendRetrying(hc *http.Client, addr string, lr *client.LoginRequest) answer {
	var a answer
	for range 3 {
		if a = send(context.Background(), hc, addr, lr); a.outcome != unavailable {
			return a
		}
		time.Sleep(200 * time.Millisecond)
	}
	return a
}
