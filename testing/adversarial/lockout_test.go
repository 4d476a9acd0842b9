package adversarial

import (
	"testing"
)

// testLockoutLever: anyone who knows a client's role and ID can seal
// proofs that open (the server key is public) and fail at the digest, and
// so lock the client for lockout_duration (docs/protocol.md §11.4). The
// attacker here holds no entropy at all, only its size. With
// lockout_threshold=0 the same attack writes nothing and locks nobody.
func testLockoutLever(t *testing.T, e *env) {
	attackOnce := func(t *testing.T, rc, role, id string) {
		st := e.loadState(t, rc)
		st.Entropy = make([]byte, len(st.Entropy)) // not the client's: zeros
		checkRefused(t, e.login(t, role, id, newForgery(t, st).encode(t)), denied)
	}
	t.Run("threshold 5 locks", func(t *testing.T) {
		for range 5 {
			attackOnce(t, "web/erin", "web", "erin")
		}
		if _, locked := e.failures(t, "web/erin"); !locked {
			t.Fatal("5 failed proofs did not lock the client (lockout_threshold 5)")
		}
		if err := e.tryHonestLogin(t, "web/erin"); err == nil {
			t.Fatal("a locked client logged in")
		}
		e.unlock(t, "web/erin")
		e.honestLogin(t, "web/erin")
	})
	t.Run("threshold 0 never locks", func(t *testing.T) {
		before := e.MountStorage(t, mount)
		for range 20 {
			attackOnce(t, "nolockout/erin", "nolockout", "erin")
		}
		assertUnchanged(t, before, e.MountStorage(t, mount))
		if n, locked := e.failures(t, "nolockout/erin"); n != 0 || locked {
			t.Fatalf("lockout_threshold=0: failed_logins %d, locked %v", n, locked)
		}
		e.honestLogin(t, "nolockout/erin")
	})
	e.alive(t)
}
