package failover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// acceptedProof is a login request a node accepted, kept to be sent again.
type acceptedProof struct {
	req      *client.LoginRequest
	clientID string
	node     int
	sent, at time.Time // when it was sent, when the answer came
}

// load is the honest clients' login loop against every node, and what it
// saw.
type load struct {
	addrs []string
	hc    *http.Client

	mu       sync.Mutex
	accepted []acceptedProof
	// fresh counts the answers to fresh proofs by outcome; replays those
	// to proofs sent again at once, to the next node, after acceptance.
	fresh, replays [len(outcomeNames)]int
	// detail keeps one example of each unavailable answer's text, for the
	// report.
	unavailableSeen map[string]int
	problems        []string
}

func newLoad(addrs []string) *load {
	return &load{
		addrs:           addrs,
		hc:              &http.Client{Timeout: 30 * time.Second},
		unavailableSeen: map[string]int{},
	}
}

func (l *load) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// run is client k's loop: a fresh proof for every attempt, sent once; the
// next node after an unavailable one; at once a new proof after the named
// "make a new proof" refusal, as the library does (after a second).
func (l *load) run(ctx context.Context, k int, clientID string, auth *client.EntropyAuth) {
	node := k % len(l.addrs)
	for ctx.Err() == nil {
		lr, sess, err := auth.NewLoginRequest(ctx, nil)
		if err != nil {
			l.problem("client %s: building a proof: %v", clientID, err)
			return
		}
		sent := time.Now()
		a := send(ctx, l.hc, l.addrs[node], lr)
		if ctx.Err() != nil {
			return // the answer to a cancelled request says nothing
		}
		l.mu.Lock()
		l.fresh[a.outcome]++
		if a.outcome == accepted {
			l.accepted = append(l.accepted, acceptedProof{req: lr, clientID: clientID, node: node, sent: sent, at: time.Now()})
		}
		if a.outcome == unavailable {
			l.unavailableSeen[fmt.Sprintf("node%d %d %.80s", node+1, a.status, a.detail)]++
		}
		l.mu.Unlock()
		switch a.outcome {
		case accepted:
			if _, err := sess.OpenReceipt(a.receipt); err != nil {
				l.problem("client %s: node%d accepted a proof with a receipt that does not open: %v", clientID, node+1, err)
			}
			// One accepted proof in four goes again at once to the next
			// node: a replay while the load runs, during the failover too.
			if rand.IntN(4) == 0 {
				l.replayNow(ctx, clientID, lr, (node+1)%len(l.addrs))
			}
			sleep(ctx, time.Duration(20+rand.IntN(40))*time.Millisecond)
		case window:
			// The new leader cannot tell whether a proof issued before it
			// became active was accepted: a new one passes.
		case unavailable:
			// A standby that cannot forward answers with a redirect to
			// the active node it knows, followed here as vault/api does:
			// right after the kill, to the dead node.
			node = (node + 1) % len(l.addrs)
			if a.refusedConn {
				sleep(ctx, 20*time.Millisecond)
			} else {
				sleep(ctx, 100*time.Millisecond)
			}
		default:
			l.problem("client %s: node%d answered an honest fresh proof with %s (%d: %s)", clientID, node+1, a.outcome, a.status, a.detail)
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

// replayNow sends an accepted request again to node.
func (l *load) replayNow(ctx context.Context, clientID string, lr *client.LoginRequest, node int) {
	a := send(ctx, l.hc, l.addrs[node], lr)
	if ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	l.replays[a.outcome]++
	l.mu.Unlock()
	if a.outcome == accepted || a.outcome == unexpected {
		l.problem("client %s: an accepted proof sent again at once to node%d was answered %s (%d: %s)", clientID, node+1, a.outcome, a.status, a.detail)
	}
}

// resumed reports whether every client has had n logins accepted that it
// sent after t.
func (l *load) resumed(clients []string, t time.Time, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	count := map[string]int{}
	for _, p := range l.accepted {
		if p.sent.After(t) {
			count[p.clientID]++
		}
	}
	for _, c := range clients {
		if count[c] < n {
			return false
		}
	}
	return true
}

// gap is the time from the last login answered before killing (the moment
// the kill began) to the first answered login sent after killed (the moment
// the node was gone), and that first login's answer time.
func (l *load) gap(killing, killed time.Time) (time.Duration, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last, first time.Time
	for _, p := range l.accepted {
		if p.at.Before(killing) && p.at.After(last) {
			last = p.at
		}
		if p.sent.After(killed) && (first.IsZero() || p.at.Before(first)) {
			first = p.at
		}
	}
	if last.IsZero() || first.IsZero() {
		return 0, time.Time{}, false
	}
	return first.Sub(last), first, true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
