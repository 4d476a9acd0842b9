package adversarial

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// rotateAndPromote has the server hand rc a new generation (an operator's
// rotate request, then a login that receives it) and has the client prove
// it (a second login), so that the generation before is superseded
// (docs/protocol.md §14). It returns the new current generation.
func (e *env) rotateAndPromote(t *testing.T, rc string) int64 {
	t.Helper()
	role, id, _ := strings.Cut(rc, "/")
	e.Write(t, "auth/"+mount+"/role/"+role+"/client/"+id+"/rotate", map[string]interface{}{})
	e.honestLogin(t, rc) // receives the pending generation
	e.honestLogin(t, rc) // proves it: promoted
	d := e.record(t, rc)
	gen, _ := d["generation"].(json.Number).Int64()
	sup, _ := d["superseded_generation"].(json.Number).Int64()
	if sup != gen-1 {
		t.Fatalf("after a promotion %s is at generation %d with superseded %d", rc, gen, sup)
	}
	return gen
}

// copyState keeps a copy of rc's state file, as a thief would.
func (e *env) copyState(t *testing.T, rc string) string {
	t.Helper()
	b, err := os.ReadFile(e.state[rc])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stolen.json")
	if err := client.WriteSecretFile(path, b); err != nil {
		t.Fatal(err)
	}
	return path
}

// stolenProof is a fresh proof from a copied state file.
func stolenProof(t *testing.T, e *env, path string) string {
	t.Helper()
	e.state["stolen"] = path
	defer delete(e.state, "stolen")
	return freshProof(t, e, "stolen")
}

// testClone: a proof of the superseded generation that verifies is a
// clone (§14.3). With clone_action=lock the client is locked until an
// operator unlocks it; with log only the log says so. A replay of a proof
// accepted before the rotation is a replay, not a clone; a generation
// older than the superseded one is an ordinary counted failure.
func testClone(t *testing.T, e *env) {
	for _, c := range []struct {
		rc     string
		locks  bool
		action string
	}{{"clone/twin", true, "lock"}, {"clonelog/twin", false, "log"}} {
		t.Run(c.action, func(t *testing.T) {
			role, _, _ := strings.Cut(c.rc, "/")
			stolen := e.copyState(t, c.rc)
			oldAccepted := accept(t, e, c.rc, role, "twin")
			e.rotateAndPromote(t, c.rc)

			// The replayed proof of generation 1: a replay.
			before := e.MountStorage(t, mount)
			checkRefused(t, e.login(t, role, "twin", oldAccepted), denied)
			if n, locked := e.failures(t, c.rc); n != 0 || locked {
				t.Fatalf("a replay of a superseded generation's proof counted or locked: failed %d locked %v", n, locked)
			}
			assertUnchanged(t, before, e.MountStorage(t, mount))

			// A fresh proof of generation 1, made after the promotion
			// (a second later, so that it is not stale: §14.3): the clone.
			time.Sleep(1100 * time.Millisecond)
			before = e.MountStorage(t, mount)
			checkRefused(t, e.login(t, role, "twin", stolenProof(t, e, stolen)), denied)
			added, removed, changed := harness.StorageDiff(before, e.MountStorage(t, mount))
			// A clone's nonce is claimed before it is recognized (§8.3),
			// which may raise the replay watermark: a legitimate write.
			changed = slices.DeleteFunc(changed, func(k string) bool { return k == "replay/watermark" })
			if len(added)+len(removed) > 0 {
				t.Errorf("a clone changed the set of keys: added %v removed %v", added, removed)
			}
			if !strings.Contains(e.Log(t), "clone detected") || !strings.Contains(e.Log(t), "clone_action="+c.action) {
				t.Errorf("the log has no clone event with clone_action=%s", c.action)
			}
			n, locked := e.failures(t, c.rc)
			if n != 0 {
				t.Errorf("a clone counted as a failed proof: %d", n)
			}
			if locked != c.locks {
				t.Fatalf("clone_action=%s: locked %v", c.action, locked)
			}
			if c.locks {
				if len(changed) != 1 || changed[0] != "client/"+c.rc {
					t.Errorf("a clone with clone_action=lock rewrote %v, want only the client's record", changed)
				}
				d := e.record(t, c.rc)
				if reason, _ := d["lock_reason"].(string); !strings.Contains(reason, "clone") {
					t.Errorf("lock_reason %q does not say clone", reason)
				}
				if until, _ := d["locked_until"].(string); until != "" {
					t.Errorf("a clone lock runs until %q; it must last until an operator unlocks it", until)
				}
				// Documented: the honest holder is locked out too, until
				// an operator unlocks the client.
				if err := e.tryHonestLogin(t, c.rc); err == nil {
					t.Fatal("a client locked as a clone logged in")
				}
				e.unlock(t, c.rc)
			} else if len(changed) > 0 {
				t.Errorf("a clone with clone_action=log wrote %v", changed)
			}
			e.honestLogin(t, c.rc)

			// Two promotions later generation 1's entropy is gone: a proof
			// of it is refused at step 12, testing no entropy, so it does
			// not count (§14.3, §15).
			e.rotateAndPromote(t, c.rc)
			a := attack{name: "older than superseded", class: cGeneration, victim: c.rc, want: denied,
				send: func(t *testing.T, e *env) response { return e.login(t, role, "twin", stolenProof(t, e, stolen)) }}
			a.run(t, e)
		})
	}
	e.alive(t)
}

func assertUnchanged(t testing.TB, before, after map[string]string) {
	t.Helper()
	if added, removed, changed := harness.StorageDiff(before, after); len(added)+len(removed)+len(changed) > 0 {
		t.Errorf("storage changed: added %v removed %v changed %v", added, removed, changed)
	}
}

// testWithheldProof: someone on the path holds back one proof of the
// client's generation, lets the client rotate and prove its next
// generation, then sends the proof (docs/protocol.md §14.3). It was made
// before the client moved on: stale, refused, the client not locked and no
// clone event. A copy of the state used after the promotion still locks.
func testWithheldProof(t *testing.T, e *env) {
	const rc = "clone/withheld"
	role, id, _ := strings.Cut(rc, "/")
	withheld := freshProof(t, e, rc)
	stolen := e.copyState(t, rc)
	e.rotateAndPromote(t, rc)

	logBefore := len(e.Log(t))
	e.refusedAsStale(t, rc, withheld, "a withheld proof")

	time.Sleep(1100 * time.Millisecond) // a second after the promotion: not stale
	checkRefused(t, e.login(t, role, id, stolenProof(t, e, stolen)), denied)
	if locked, _ := e.record(t, rc)["locked"].(bool); !locked {
		t.Fatal("a copy of the state used after the promotion did not lock the client")
	}
	if !strings.Contains(e.Log(t)[logBefore:], "clone detected") {
		t.Fatal("no clone event for a copy used after the promotion")
	}
	e.unlock(t, rc)
	e.honestLogin(t, rc)
	e.alive(t)
}

// refusedAsStale sends a proof of rc's superseded generation made before
// its promotion: it must be refused as stale (docs/protocol.md §14.3), the
// client not locked, no clone event, and the honest client logs in after.
func (e *env) refusedAsStale(t *testing.T, rc, proof, what string) {
	t.Helper()
	role, id, _ := strings.Cut(rc, "/")
	logBefore := len(e.Log(t))
	checkRefused(t, e.login(t, role, id, proof), denied)
	if locked, _ := e.record(t, rc)["locked"].(bool); locked {
		t.Fatalf("%s locked the client", what)
	}
	logged := e.Log(t)[logBefore:]
	if strings.Contains(logged, "clone detected") || !strings.Contains(logged, "stale, not a clone") {
		t.Fatalf("%s: the log says\n%s", what, logged)
	}
	e.honestLogin(t, rc)
}
