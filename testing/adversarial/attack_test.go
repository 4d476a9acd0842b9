package adversarial

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// What a caller may see of a refusal.
type refusal struct {
	status int
	text   string // a substring of one of Vault's error strings
}

var (
	// denied is the generic refusal of docs/protocol.md §8.2.
	denied = refusal{http.StatusForbidden, "permission denied"}
	// keyNotAccepted is the named refusal of step 5 (§8.2): a key ID the
	// server does not accept. It is public which keys a server accepts.
	keyNotAccepted = refusal{http.StatusBadRequest, "proof is sealed to a server key this server no longer accepts: fetch the current keys"}
)

// fieldError is a 400 for a request malformed at the field level, before
// any proof is looked at.
func fieldError(text string) refusal { return refusal{http.StatusBadRequest, text} }

// attack is one row: a request against the real server and what it must
// cause.
type attack struct {
	name string
	// send makes and sends the request.
	send func(t *testing.T, e *env) response
	want refusal
	// victim is the client ("role/client_id") the attack is aimed at; it
	// must still log in afterwards. Empty: web/alice.
	victim string
	// class is the reason the server logs for the refusal (the class of
	// docs/protocol.md §8.1, as the server's message spells it): it shows
	// that the row fails the check it is meant to, and no earlier one.
	// Empty for refusals made before the plugin verifies anything.
	class string
	// counts: docs/protocol.md §15 counts this refusal (a failed digest)
	// toward the lockout of its source for the victim: failed_logins, held
	// in memory, goes one higher. Storage never changes.
	counts bool
}

// run sends the attack and checks every invariant of the suite.
func (a attack) run(t *testing.T, e *env) {
	t.Helper()
	victim := a.victim
	if victim == "" {
		victim = "web/alice"
	}
	failedBefore, _ := e.failures(t, victim)
	before := e.MountStorage(t, mount)
	logFrom := len(e.Log(t))

	r := a.send(t, e)
	checkRefused(t, r, a.want)
	if a.class != "" {
		e.waitRefusalLogged(t, logFrom, a.class)
	}

	added, removed, changed := harness.StorageDiff(before, e.MountStorage(t, mount))
	if len(added) > 0 || len(removed) > 0 || len(changed) > 0 {
		t.Errorf("storage was written: added %v, removed %v, changed %v", added, removed, changed)
	}
	failedAfter, locked := e.failures(t, victim)
	switch {
	case a.counts && failedAfter != failedBefore+1:
		t.Errorf("failed_logins of %s went from %d to %d, want +1 (a counted refusal)", victim, failedBefore, failedAfter)
	case !a.counts && failedAfter != failedBefore:
		t.Errorf("failed_logins of %s went from %d to %d: this refusal must not count", victim, failedBefore, failedAfter)
	}
	if locked {
		t.Errorf("%s is locked after one refusal", victim)
	}
	e.alive(t)
	// The honest client is not locked out. An accepted login does not
	// clear its source's count (§15), but the suite sends fewer counted
	// rows per client than the threshold.
	e.honestLogin(t, victim)
}

// waitRefusalLogged waits for the server log, after offset from, to show
// a refusal for reason class (the plugin's log reaches Vault's through a
// pipe, a moment later).
func (e *env) waitRefusalLogged(t testing.TB, from int, class string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		log := e.Log(t)
		for _, line := range strings.Split(log[min(from, len(log)):], "\n") {
			if strings.Contains(line, "login refused") && strings.Contains(line, class) {
				return
			}
		}
		if time.Now().After(deadline) {
			var refused []string
			for _, line := range strings.Split(log[min(from, len(log)):], "\n") {
				if strings.Contains(line, "login refused") {
					refused = append(refused, line[strings.Index(line, "login refused"):])
				}
			}
			t.Fatalf("the server log shows no refusal for %q; it shows %q", class, refused)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRefused asserts the refusal and that no token came with it.
func checkRefused(t testing.TB, r response, want refusal) {
	t.Helper()
	if r.token != "" || strings.Contains(r.raw, "client_token") {
		t.Fatalf("the attack got a token (status %d)", r.status)
	}
	if r.status != want.status {
		t.Fatalf("status %d, want %d (errors %q)", r.status, want.status, r.errors)
	}
	if want.text == "" {
		return
	}
	for _, msg := range r.errors {
		if strings.Contains(msg, want.text) {
			return
		}
	}
	t.Fatalf("errors %q do not contain %q", r.errors, want.text)
}

func runAttacks(t *testing.T, e *env, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) { a.run(t, e) })
	}
}

// The classes of docs/protocol.md §8.1 as the server logs them.
var (
	cMalformed      = protocol.ErrMalformed.Error()
	cVersion        = protocol.ErrVersion.Error()
	cSuite          = protocol.ErrSuite.Error()
	cKeyNotAccepted = protocol.ErrKeyNotAccepted.Error()
	cWrongSuiteKey  = protocol.ErrUnknownKey.Error() // a key ID held under another suite
	cOpen           = protocol.ErrOpen.Error()
	cHeader         = protocol.ErrHeaderMismatch.Error()
	cUnknownClient  = "no such role or client" // the backend's own
	cTooOld         = protocol.ErrTooOld.Error()
	cFromFuture     = protocol.ErrFromFuture.Error()
	cGeneration     = protocol.ErrGeneration.Error()
	cRanges         = protocol.ErrRanges.Error()
	cDigest         = protocol.ErrDigest.Error()
	cReplay         = protocol.ErrReplay.Error()
)
