package upgrade

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// loginLoad keeps one goroutine per client logging in through the client
// library, back to back, and counts every outcome. The library retries the
// named "make a new proof" refusal (a reloaded plugin refuses proofs issued
// before its replay watermark) by itself; such a login comes back slow, not
// failed. Anything else it returns is a lost login.
type loginLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	ok       int
	slow     int // accepted after more than slowLogin: retried with a new proof
	failures map[string]int
	lastOK   map[string]time.Time
}

// slowLogin: an accepted login that took longer than this waited for at
// least one retry (the first waits 4 s).
const slowLogin = 3 * time.Second

func startLoad(vc *api.Client, auths map[string]*client.EntropyAuth) *loginLoad {
	l := &loginLoad{stop: make(chan struct{}), failures: map[string]int{}, lastOK: map[string]time.Time{}}
	for id, a := range auths {
		l.wg.Add(1)
		go l.run(vc, id, a)
	}
	return l
}

func (l *loginLoad) run(vc *api.Client, id string, a *client.EntropyAuth) {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		// Not the stop channel's context: a login under way when the load
		// stops finishes, and counts.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		secret, err := a.Login(ctx, vc)
		cancel()
		took := time.Since(start)
		l.mu.Lock()
		switch {
		case err != nil:
			l.failures[fmt.Sprintf("%s: %v", id, err)]++
		case secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "":
			l.failures[id+": no token"]++
		default:
			l.ok++
			if took > slowLogin {
				l.slow++
			}
			l.lastOK[id] = time.Now()
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // two cores, shared
	}
}

// since reports whether every client of the load logged in after t.
func (l *loginLoad) since(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.lastOK {
		if !at.After(t) {
			return false
		}
	}
	return len(l.lastOK) > 0
}

func (l *loginLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

// finish stops the load, waits for the logins under way, and summarises.
func (l *loginLoad) finish() (ok, slow int, failures []string) {
	close(l.stop)
	l.wg.Wait()
	for f, n := range l.failures {
		failures = append(failures, fmt.Sprintf("%d× %s", n, f))
	}
	sort.Strings(failures)
	return l.ok, l.slow, failures
}
