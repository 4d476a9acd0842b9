package upgrade

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// schemaRefusal is what the baseline says of a schema version 2 record
// (its backend/schema.go), in its answer and its log.
const schemaRefusal = "schema version 2, this build reads up to 1: written by a newer release of the plugin; downgrade is not supported"

// versionRefusal is what the baseline logs of a proof of version 2, which
// it cannot read (its backend/protocol/errors.go).
const versionRefusal = "proof has an unsupported version"

// downgradeToSchemaV1AndBack pins the schema version 1 baseline again and
// reloads: that build reads schema version 1 only, and the current build
// has written version 2 (migrated clients, the replay watermark). It must
// refuse, with the versions named, and change nothing in storage; an
// upgrade again must bring every client back.
func downgradeToSchemaV1AndBack(t *testing.T, s *harness.Server, base, cur build, state map[string]string, loadIDs, steadyIDs []string) {
	replayCurrent := captureLogin(t, s, state["steady-1"])
	before := s.MountStorage(t, mount)
	logBefore := len(s.Log(t))

	pin(t, s, base)
	reload(t, s)
	checkRunning(t, s, "after the downgrade", base)
	// Every login fails closed. A client of the current library has
	// learned from the current build's receipts that it reads proof
	// version 2, and builds that: the baseline reads version 1 only, and
	// refuses such a proof as any it cannot read, with a bare 403 before it
	// reads anything (logging why).
	for _, id := range []string{"pending-0", "steady-2", loadIDs[0]} {
		secret, err := login(t, s, state[id])
		switch {
		case err == nil || (secret != nil && secret.Auth != nil):
			t.Errorf("%s logged in on the baseline after the downgrade", id)
		case !errors.Is(err, client.ErrLoginRefused) || !strings.Contains(err.Error(), "(403 at "):
			t.Errorf("%s on the baseline after the downgrade: %v, want the library's refusal of a 403 (a version 2 proof)", id, err)
		default:
			t.Logf("%s on the baseline after the downgrade: %v", id, err)
		}
	}
	// The baseline CLI builds version 1 proofs, which the baseline reads:
	// its login fails on the client's record of schema version 2 (or, for
	// a client still in version 1, the replay watermark the current build
	// wrote), with the versions named.
	if out, err := runCLI(t, s, base.cli, "", "login", "-state="+state["cli-baseline"]); err == nil || out != "" || !strings.Contains(err.Error(), schemaRefusal) {
		t.Errorf("the baseline CLI on the baseline after the downgrade: %q, %v; want no token and %q", out, err, schemaRefusal)
	} else {
		t.Logf("the baseline CLI on the baseline after the downgrade: %v", err)
	}
	checkReplayFails(t, s, "replay of a current login on the downgraded plugin", replayCurrent, 403)
	if st := tidy(t, s); st["state"] != "failed" || !strings.Contains(fmt.Sprint(st["error"]), schemaRefusal) {
		t.Errorf("tidy on the downgraded plugin: %v, want failed with %q", st, schemaRefusal)
	}

	log := s.Log(t)[logBefore:]
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "schema version") {
			t.Logf("server log: %s", l)
		}
	}
	if !strings.Contains(log, schemaRefusal) {
		t.Error("the server log does not say why the downgraded plugin refuses")
	}
	if !strings.Contains(log, versionRefusal) {
		t.Errorf("the server log does not say %q of the current library's version 2 proofs", versionRefusal)
	}
	after := s.MountStorage(t, mount)
	if added, removed, changed := harness.StorageDiff(before, after); len(added)+len(removed)+len(changed) > 0 {
		t.Errorf("the downgraded plugin changed storage: added %v, removed %v, rewritten %v", added, removed, changed)
	}

	pin(t, s, cur)
	reload(t, s)
	checkRunning(t, s, "after the upgrade again", cur)
	for _, id := range append(append([]string{}, loadIDs...), steadyIDs...) {
		if p, ok := state[id]; ok {
			mustLogin(t, s, id, p)
		}
	}
	checkReplayRefused(t, s, "replay of a current login after the downgrade and back", replayCurrent)
	noneLocked(t, s, steadyRole, steadyIDs)
}
