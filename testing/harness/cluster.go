package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// ClusterSize is the number of nodes scripts/raft-cluster.sh runs.
const ClusterSize = 3

// clusterPrefix names the cluster directories under os.TempDir():
// entropy-cluster-<test pid>-*, so that a later test process can stop and
// remove what a killed one left (reapStale).
const clusterPrefix = "entropy-cluster-"

// Cluster is a three-node Vault cluster with raft storage on loopback
// (scripts/raft-cluster.sh). Node indexes are 0, 1 and 2 here; the script
// and the directories count from 1 (Nodes[0] lives in DIR/node1).
type Cluster struct {
	Dir       string // DIR: init.json, env, node1..node3
	RootToken string
	// Nodes[i] is node i as a Server, for Write, Enroll, Vault and CLI
	// (a standby forwards every request to the active node). Never call
	// a node's Restart or Kill (they drive scripts/vault-server.sh, which
	// cannot unseal a cluster node): use KillNode and StartNode.
	Nodes []*Server
	down  [ClusterSize]bool
}

// StartCluster starts a three-node cluster in a fresh directory, on six
// consecutive free loopback ports, and waits until the three nodes are
// unsealed raft voters. When the test ends the nodes are stopped and the
// directory removed; if the test failed, the last 100 lines of each node's
// log go to the test log.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	vault := VaultBinary(t)
	reapStale(clusterPrefix, "raft-cluster.sh", "init.json", "init.json.tmp", "env", "node1", "node2", "node3")
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", clusterPrefix, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir}
	env := []string{"VAULT_BIN=" + vault}
	t.Cleanup(func() {
		if _, err := runScript(env, "raft-cluster.sh", "stop", dir); err != nil {
			t.Errorf("stopping the cluster: %v", err)
			return // a node may still run: leave its directory
		}
		if t.Failed() {
			for i := range ClusterSize {
				t.Logf("last 100 lines of node%d/vault.log:\n%s", i+1, tail(c.NodeLog(t, i), 100))
			}
		}
		os.RemoveAll(dir)
	})
	c.start(t, env)
	for i := range ClusterSize {
		s := &Server{Dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1))}
		s.connect(t)
		c.Nodes = append(c.Nodes, s)
	}
	c.RootToken = c.Nodes[0].RootToken
	return c
}

// start runs `raft-cluster.sh start` on 2*ClusterSize consecutive free
// ports, again on fresh ones (from fresh config files) when a node could
// not bind its port because another process took it meanwhile.
func (c *Cluster) start(t testing.TB, env []string) {
	t.Helper()
	var err error
	for range portAttempts {
		port := freePortRange(t, 2*ClusterSize)
		if _, err = runScript(env, "raft-cluster.sh", "start", c.Dir, strconv.Itoa(port)); err == nil {
			return
		}
		taken := false
		for i := range ClusterSize {
			taken = taken || strings.Contains(c.NodeLog(t, i), "address already in use")
		}
		if !taken {
			break
		}
		t.Logf("a port from %d was taken meanwhile; trying others", port)
		if _, serr := runScript(env, "raft-cluster.sh", "stop", c.Dir); serr != nil {
			t.Fatalf("stopping the cluster after a failed start: %v", serr)
		}
		for i := range ClusterSize {
			os.RemoveAll(filepath.Join(c.Dir, fmt.Sprintf("node%d", i+1)))
		}
		os.Remove(filepath.Join(c.Dir, "init.json"))
	}
	t.Fatalf("starting the raft cluster: %v", err)
}

// script runs scripts/raft-cluster.sh CMD DIR ARGS... and fails the test on error.
func (c *Cluster) script(t testing.TB, cmd string, args ...string) string {
	t.Helper()
	return script(t, []string{"VAULT_BIN=" + VaultBinary(t)}, "raft-cluster.sh", append([]string{cmd, c.Dir}, args...)...)
}

// EnablePlugin copies the plugin into every node's plugin directory,
// registers it in the (replicated) catalog by sha256 and version, and
// enables it at auth/MOUNT for each mount (default: entropy).
func (c *Cluster) EnablePlugin(t testing.TB, mounts ...string) {
	t.Helper()
	plugin, _ := Binaries(t)
	c.script(t, "register", append([]string{plugin}, mounts...)...)
}

// Up reports whether node i runs (it was not killed, or was started again).
func (c *Cluster) Up(i int) bool { return !c.down[i] }

// KillNode ends node i and its plugin processes with SIGKILL, as a crash.
func (c *Cluster) KillNode(t testing.TB, i int) {
	t.Helper()
	c.script(t, "kill-node", strconv.Itoa(i+1))
	c.down[i] = true
}

// StartNode starts node i again on its data and unseals it; it rejoins the
// cluster.
func (c *Cluster) StartNode(t testing.TB, i int) {
	t.Helper()
	c.script(t, "start-node", strconv.Itoa(i+1))
	c.down[i] = false
}

// Leader waits (up to a minute) until a running node says it is the
// active node, and returns its index.
func (c *Cluster) Leader(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if i, ok := c.leader(); ok {
			return i
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no active node within a minute")
	return -1
}

// leader asks each running node whether it is the active one.
func (c *Cluster) leader() (int, bool) {
	for i, s := range c.Nodes {
		if c.down[i] {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, err := s.Client.Sys().LeaderWithContext(ctx)
		cancel()
		if err == nil && l.HAEnabled && l.IsSelf {
			return i, true
		}
	}
	return 0, false
}

// Active is the active node (see Leader), for requests that must reach it
// directly; any running node would forward them.
func (c *Cluster) Active(t testing.TB) *Server {
	t.Helper()
	return c.Nodes[c.Leader(t)]
}

// Client is the active node's root client. It follows the leader only as
// far as the moment it is called: after a failover, call it again.
func (c *Cluster) Client(t testing.TB) *api.Client {
	t.Helper()
	return c.Active(t).Client
}

// Voters reads the raft configuration through the active node and returns
// the node IDs (node1...) of its voters.
func (c *Cluster) Voters(t testing.TB) []string {
	t.Helper()
	secret, err := c.Client(t).Logical().ReadWithContext(context.Background(), "sys/storage/raft/configuration")
	if err != nil {
		t.Fatalf("reading the raft configuration: %v", err)
	}
	if secret == nil {
		t.Fatal("no raft configuration")
	}
	config, _ := secret.Data["config"].(map[string]interface{})
	servers, _ := config["servers"].([]interface{})
	var voters []string
	for _, s := range servers {
		m, _ := s.(map[string]interface{})
		if v, _ := m["voter"].(bool); v {
			id, _ := m["node_id"].(string)
			voters = append(voters, id)
		}
	}
	return voters
}

// NodeLog returns node i's log so far.
func (c *Cluster) NodeLog(t testing.TB, i int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, fmt.Sprintf("node%d", i+1), "vault.log"))
	if err != nil {
		t.Logf("reading node%d's log: %v", i+1, err)
	}
	return string(b)
}

// freePortRange finds a loopback port whose n-1 successors are free too.
func freePortRange(t testing.TB, n int) int {
	t.Helper()
	for range 50 {
		if port, ok := tryPortRange(t, n); ok {
			return port
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %d consecutive free loopback ports", n)
	return 0
}

func tryPortRange(t testing.TB, n int) (int, bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for k := 1; k < n; k++ {
		lk, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+k))
		if err != nil {
			return 0, false
		}
		defer lk.Close()
	}
	return port, true
}
