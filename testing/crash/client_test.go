package crash

import (
	"context"
	"fmt"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// crashClient is an enrolled client and what the test knows of it.
type crashClient struct {
	id    string
	state string
	auth  *client.EntropyAuth
	// generation is the highest current generation seen in its state file.
	generation uint64
}

func newClient(t *testing.T, s *harness.Server, id string) *crashClient {
	t.Helper()
	state := s.Enroll(t, "auth/"+mount, role, id)
	auth, err := client.NewEntropyAuth(client.WithStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	return &crashClient{id: id, state: state, auth: auth}
}

// record is the server's view of a client.
type record struct {
	generation, pending uint64
	locked              bool
	failedLogins        string
}

func (c *crashClient) record(t *testing.T, s *harness.Server) record {
	t.Helper()
	path := "auth/" + mount + "/role/" + role + "/client/" + c.id
	sec, err := s.Client.Logical().ReadWithContext(context.Background(), path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if sec == nil {
		t.Fatalf("client %s: its record is gone", c.id)
	}
	num := func(k string) uint64 {
		var v uint64
		fmt.Sscan(fmt.Sprint(sec.Data[k]), &v)
		return v
	}
	locked, _ := sec.Data["locked"].(bool)
	return record{
		generation:   num("generation"),
		pending:      num("pending_generation"),
		locked:       locked,
		failedLogins: fmt.Sprint(sec.Data["failed_logins"]),
	}
}

// load reads the state file, which must parse and never go back a
// generation.
func (c *crashClient) load(t *testing.T, round int) *client.State {
	t.Helper()
	st, err := client.LoadState(c.state)
	if err != nil {
		t.Fatalf("round %d: client %s: the state file does not load: %v", round, c.id, err)
	}
	if st.Generation < c.generation {
		t.Fatalf("round %d: client %s: the state file went back from generation %d to %d", round, c.id, c.generation, st.Generation)
	}
	c.generation = st.Generation
	return st
}

func pendingOf(st *client.State) uint64 {
	if st.Pending == nil {
		return 0
	}
	return st.Pending.Generation
}

// where says how the state file and the server's record relate after a
// kill: the ways docs/lifecycle.md allows them to differ, or an error.
func (c *crashClient) where(t *testing.T, s *harness.Server) string {
	t.Helper()
	st := c.load(t, -1)
	r := c.record(t, s)
	switch {
	case st.Generation == r.generation && pendingOf(st) == r.pending:
		return "state and server agree (before the request, or after the save)"
	case st.Generation == r.generation && pendingOf(st) == 0 && r.pending == r.generation+1:
		return "mid-rotation: the server issued a generation the client did not save"
	case pendingOf(st) != 0 && r.generation == pendingOf(st):
		return "mid-rotation: the server promoted the pending generation, the client did not save it"
	}
	t.Errorf("client %s after a kill: state at generation %d pending %d, server at %d pending %d: no allowed step apart",
		c.id, st.Generation, pendingOf(st), r.generation, r.pending)
	return "inconsistent"
}

// check is the end of every round: the state file loads and has not gone
// back; the client logs in (the library retrying a "make a new proof"
// refusal); afterwards state and server agree exactly, the client is not
// locked and no failure is counted.
func (c *crashClient) check(t *testing.T, s *harness.Server, round int) {
	t.Helper()
	c.load(t, round)
	c.login(t, s)
	st := c.load(t, round)
	r := c.record(t, s)
	if st.Generation != r.generation || pendingOf(st) != r.pending {
		t.Fatalf("round %d: client %s after a login: state at generation %d pending %d, server at %d pending %d",
			round, c.id, st.Generation, pendingOf(st), r.generation, r.pending)
	}
	if r.locked || r.failedLogins != "0" {
		t.Fatalf("round %d: client %s: locked=%v failed_logins=%s, want an unlocked client with no failure",
			round, c.id, r.locked, r.failedLogins)
	}
}

func (c *crashClient) login(t *testing.T, s *harness.Server) {
	t.Helper()
	vc, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Auth().Login(context.Background(), c.auth); err != nil {
		t.Fatalf("client %s: login: %v", c.id, err)
	}
}
