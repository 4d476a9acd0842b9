package adversarial

import "testing"

// TestAdversarial runs every attack against one real Vault: the server
// takes seconds to start, the attacks milliseconds each.
func TestAdversarial(t *testing.T) {
	e := newEnv(t)
	// Replays first: the accepted proof is remembered for the skew window.
	t.Run("binding", func(t *testing.T) { runAttacks(t, e, bindingAttacks(accept(t, e, "web/alice", "web", "alice"))) })
	t.Run("encoding", func(t *testing.T) { runAttacks(t, e, encodingAttacks()) })
	t.Run("size", func(t *testing.T) { runAttacks(t, e, append(sizeAttacks(), bodyLimit)) })
	t.Run("sections", func(t *testing.T) { runAttacks(t, e, sectionAttacks()) })
	t.Run("clone", func(t *testing.T) { testClone(t, e) })
	t.Run("withheld proof", func(t *testing.T) { testWithheldProof(t, e) })
	t.Run("fake server", func(t *testing.T) { testFakeServer(t, e) })
	t.Run("lockout", func(t *testing.T) { testLockout(t, e) }) // the one long test: a minute
	t.Run("anonymous reads", func(t *testing.T) { testAnonymousReads(t, e) })
	// Late, so that the server has been up long enough for them.
	t.Run("controls", func(t *testing.T) { controls(t, e) })
	t.Run("flood", func(t *testing.T) { testFlood(t, e) })
	t.Run("cost", func(t *testing.T) { testCost(t, e) })
	e.alive(t)
}
