package failover

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// RoundsEnv sets the number of successive leader kills of the long version.
const RoundsEnv = "ENTROPY_FAILOVER_ROUNDS"

const (
	mount = "entropy"
	role  = "failover"
)

// size returns the rounds and the number of clients: one kill with 4
// clients in the suite, ENTROPY_FAILOVER_ROUNDS kills with 8 clients.
func size(t *testing.T) (rounds, clients int) {
	t.Helper()
	v := os.Getenv(RoundsEnv)
	if v == "" {
		return 1, 4
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of rounds, at least 1", RoundsEnv, v)
	}
	return n, 8
}

func TestLeaderFailover(t *testing.T) {
	harness.Integration(t)
	rounds, nClients := size(t)
	c := harness.StartCluster(t)
	c.EnablePlugin(t, mount)
	active := c.Active(t)
	// Ten minutes of allowed skew keep every proof of the test inside the
	// time check, so that the replays below reach the replay protection
	// instead of being refused as too old.
	active.Write(t, "auth/"+mount+"/config", map[string]interface{}{"allowed_clock_skew": 600})
	// No rotation: the clients send their own requests and take up no
	// receipt, so their state must not need to change.
	active.Write(t, "auth/"+mount+"/role/"+role, map[string]interface{}{
		"token_type": "batch", "token_ttl": "5m", "rotation_period": "24h",
	})
	ids := make([]string, nClients)
	auths := make([]*client.EntropyAuth, nClients)
	for k := range nClients {
		ids[k] = fmt.Sprintf("c%d", k)
		auth, err := client.NewEntropyAuth(client.WithStateFile(active.Enroll(t, "auth/"+mount, role, ids[k])))
		if err != nil {
			t.Fatal(err)
		}
		auths[k] = auth
	}
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}

	ld := newLoad(addrs)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	for k := range nClients {
		wg.Go(func() { ld.run(ctx, k, ids[k], auths[k]) })
	}
	harness.WaitFor(t, 30*time.Second, "the clients' first logins", func() bool { return ld.resumed(ids, time.Time{}, 2) })

	var firstKill time.Time
	for r := range rounds {
		leader := c.Leader(t)
		sleep(context.Background(), time.Second) // logins through this leader
		killing := time.Now()
		if r == 0 {
			firstKill = killing
		}
		c.KillNode(t, leader)
		killed := time.Now() // the script returns once the node is gone
		next := c.Leader(t)
		elected := time.Since(killing)
		harness.WaitFor(t, time.Minute, "logins through the new leader", func() bool { return ld.resumed(ids, killed, 2) })
		gap, first, ok := ld.gap(killing, killed)
		if !ok {
			t.Fatalf("round %d: no accepted login on one side of the kill", r+1)
		}
		t.Logf("round %d: SIGKILL to node%d (active, killed in %.2f s); node%d seen active %.2f s after the kill began; logins resumed: gap %.2f s (last login answered before the kill to the first answered of those sent after it), %.2f s after the kill began",
			r+1, leader+1, killed.Sub(killing).Seconds(), next+1, elected.Seconds(), gap.Seconds(), first.Sub(killing).Seconds())
		c.StartNode(t, leader)
		checkRejoined(t, c, leader)
		sleep(context.Background(), time.Second) // logins after the rejoin
	}
	stop()

	ld.report(t)
	for i, p := range ld.problems {
		if i == 20 {
			t.Errorf("... and %d more", len(ld.problems)-20)
			break
		}
		t.Error(p)
	}
	replayAll(t, ld, addrs, firstKill)
	checkClients(t, c, ids, auths)
}

// checkRejoined waits until node i, started again, follows the active node
// and the raft configuration counts three voters.
func checkRejoined(t *testing.T, c *harness.Cluster, i int) {
	t.Helper()
	harness.WaitFor(t, 30*time.Second, fmt.Sprintf("node%d to rejoin", i+1), func() bool {
		l, err := c.Nodes[i].Client.Sys().Leader()
		if err != nil || !l.HAEnabled || l.LeaderAddress == "" {
			return false
		}
		active, ok := activeAddr(c)
		return ok && l.LeaderAddress == active && len(c.Voters(t)) == harness.ClusterSize
	})
	t.Logf("node%d started again and rejoined: voters %v", i+1, c.Voters(t))
}

// activeAddr is the address of the node that says it is active.
func activeAddr(c *harness.Cluster) (string, bool) {
	for i, n := range c.Nodes {
		if !c.Up(i) {
			continue
		}
		if l, err := n.Client.Sys().Leader(); err == nil && l.IsSelf {
			return n.Addr, true
		}
	}
	return "", false
}

func (l *load) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("fresh proofs: %s", counts(l.fresh))
	t.Logf("accepted proofs sent again at once to the next node: %s", counts(l.replays))
	for what, n := range l.unavailableSeen {
		t.Logf("unavailable x%d: %s", n, what)
	}
}

func counts(c [len(outcomeNames)]int) string {
	s := ""
	for o, n := range c {
		s += fmt.Sprintf("%s=%d ", outcome(o), n)
	}
	return s
}
