package upgrade

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// TestUpgradeFromSchemaV1: the build of testing/upgrade/schema-v1-commit
// (storage schema version 1, proof version 1) -> current under a login
// load, the records migrated as they are written, then a downgrade to it
// refused cleanly and an upgrade again (see the package doc).
func TestUpgradeFromSchemaV1(t *testing.T) {
	harness.Integration(t)
	root := harness.RepoRoot(t)
	base := baselineBuild(t, root, schemaV1Baseline)
	cur := currentBuild(t, root, base)
	t.Logf("baseline %s (plugin %s), current %s", base.version, base.name, cur.version)

	s := harness.StartRawServer(t)
	base.sha256 = register(t, s, base)
	pin(t, s, base)
	vault(t, s, "auth", "enable", "-path="+mount, pluginName)
	checkRunning(t, s, "at first", base)
	s.Write(t, mountPath+"/role/"+loadRole, map[string]interface{}{"rotation_period": "2s", "token_type": "batch", "token_ttl": "5m"})
	s.Write(t, mountPath+"/role/"+steadyRole, map[string]interface{}{"rotation_period": "1h", "token_type": "batch", "token_ttl": "5m"})

	// Clients on the baseline. pending-*: a new generation handed out, not
	// yet proven. superseded-*: a generation proven, the one before it
	// kept. steady-*: one generation. load-*: the load.
	state := map[string]string{}
	enroll := func(role, id string) { state[id] = s.Enroll(t, mountPath, role, id) }
	loadIDs, pendingIDs, supersededIDs, steadyIDs := names("load", 6), names("pending", 5), names("superseded", 5), names("steady", 4)
	for _, id := range loadIDs {
		enroll(loadRole, id)
	}
	for _, id := range append(append(append([]string{}, pendingIDs...), supersededIDs...), steadyIDs...) {
		enroll(steadyRole, id)
		mustLogin(t, s, id, state[id])
	}
	// The clone probe: superseded-0's state before its rotation, which
	// proves the generation that becomes superseded.
	cloneState := filepath.Join(t.TempDir(), "clone.json")
	copyFile(t, state[supersededIDs[0]], cloneState)
	for _, id := range pendingIDs {
		requestRotation(t, s, steadyRole, id)
		mustLogin(t, s, id, state[id]) // hands out generation 2
	}
	for _, id := range supersededIDs {
		requestRotation(t, s, steadyRole, id)
		mustLogin(t, s, id, state[id]) // hands out generation 2
		mustLogin(t, s, id, state[id]) // proves it: 1 is superseded
	}
	wantRecord := func(id string, gen, pending, superseded uint64) {
		t.Helper()
		checkGenerations(t, s, steadyRole, id, gen, pending, superseded)
	}
	for _, id := range pendingIDs {
		wantRecord(id, 1, 2, 0)
		checkLegacy(t, s, steadyRole, id)
	}
	for _, id := range supersededIDs {
		wantRecord(id, 2, 0, 1)
		checkLegacy(t, s, steadyRole, id)
	}

	// Version skew, before the upgrade: the current CLI against the
	// baseline plugin, through a rotation; and a client of the baseline CLI
	// that keeps it across the upgrade.
	newCLI := bootstrapCLI(t, s, cur.cli, steadyRole, "cli-current")
	oldCLI := bootstrapCLI(t, s, base.cli, steadyRole, "cli-baseline")
	for _, c := range []struct {
		cli string
		c   cliClient
	}{{cur.cli, newCLI}, {base.cli, oldCLI}} {
		for i := range 3 {
			if i == 1 {
				requestRotation(t, s, c.c.role, c.c.id)
			}
			if _, err := cliLogin(t, s, c.cli, c.c); err != nil {
				t.Fatalf("%s against the baseline plugin, login %d: %v", c.c.id, i+1, err)
			}
		}
		wantRecord(c.c.id, 2, 0, 1)
	}

	replayBaseline := captureLogin(t, s, state[steadyIDs[0]])
	checkReplayRefused(t, s, "replay on the baseline, at once", replayBaseline)

	// The baseline's bundles and receipts say no proof_version: its
	// clients build proofs of version 1, the one it reads.
	proofVersions(t, state, loadIDs, 0)

	// The load, then the upgrade under it.
	auths := map[string]*client.EntropyAuth{}
	for _, id := range loadIDs {
		a, err := client.NewEntropyAuth(client.WithStateFile(state[id]))
		if err != nil {
			t.Fatal(err)
		}
		auths[id] = a
	}
	load := startLoad(s.Client, auths)
	waitFor(t, "every load client to log in twice over a rotation period", 60*time.Second, func() bool {
		return load.since(time.Now().Add(-time.Second)) && load.count() >= 4*len(loadIDs)
	})
	cur.sha256 = register(t, s, cur)
	pin(t, s, cur)
	reloadedAt := time.Now()
	reload(t, s)
	checkRunning(t, s, "after the upgrade", cur)
	// Two rotation periods past the reload and more: each load client
	// rotates on the current build.
	waitFor(t, "every load client to log in after the reload", 90*time.Second, func() bool {
		return load.since(reloadedAt.Add(5 * time.Second))
	})
	ok, slow, failures := load.finish()
	t.Logf("load: %d logins accepted, %d of them after a retry with a new proof", ok, slow)
	if len(failures) > 0 {
		t.Errorf("logins lost across the upgrade:\n%s", strings.Join(failures, "\n"))
	}
	checkReplayRefused(t, s, "replay of a baseline login after the upgrade", replayBaseline)
	// The current build's receipts said it reads version 2, and the same
	// clients moved on by themselves.
	proofVersions(t, state, loadIDs, 2)

	// Generations intact; migrated at the first write.
	for _, id := range loadIDs {
		checkMigrated(t, s, loadRole, id)
	}
	for _, id := range pendingIDs {
		wantRecord(id, 1, 2, 0)
		mustLogin(t, s, id, state[id]) // proves 2: promoted, written
		wantRecord(id, 2, 0, 1)
		if c := checkMigrated(t, s, steadyRole, id); c.SupersededEntropySize == 0 {
			t.Errorf("%s: the superseded generation's entropy did not move into the record", id)
		}
	}
	for _, id := range supersededIDs {
		mustLogin(t, s, id, state[id]) // writes nothing
		checkLegacy(t, s, steadyRole, id)
		requestRotation(t, s, steadyRole, id) // a write: migrated
		if c := checkMigrated(t, s, steadyRole, id); c.SupersededEntropySize == 0 {
			t.Errorf("%s: the superseded generation's entropy did not move into the record", id)
		}
	}
	// The superseded generation's entropy came across: a fresh proof of it
	// is recognised as a clone (it verifies against that entropy).
	if _, err := login(t, s, cloneState); err == nil {
		t.Error("a proof of the superseded generation was accepted")
	}
	if r := readClient(t, s, steadyRole, supersededIDs[0]); !r.locked || !strings.Contains(r.lockReason, "clone detected: generation 1") {
		t.Errorf("a fresh proof of the superseded generation after the migration: %+v, want locked as a clone", r)
	}
	for _, id := range supersededIDs[1:] {
		mustLogin(t, s, id, state[id]) // hands out 3
		mustLogin(t, s, id, state[id]) // proves it
		wantRecord(id, 3, 0, 2)
		checkMigrated(t, s, steadyRole, id)
	}
	for _, id := range steadyIDs {
		mustLogin(t, s, id, state[id])
		checkLegacy(t, s, steadyRole, id) // a login that writes nothing moves nothing
	}
	// A leftover of the version 1 form beside a migrated record, as a
	// deletion cut short would leave: tidy removes it, and only it.
	leftover := "entropy/" + steadyRole + "/" + pendingIDs[1] + "/1"
	putRaw(t, s, leftover, []byte("left over"))
	if c := readStoredClient(t, s, steadyRole, pendingIDs[1]); len(c.LegacyEntropy) != 1 {
		t.Fatalf("the planted leftover is not there: %+v", c)
	}
	if st := tidy(t, s); st["state"] != "finished" || fmt.Sprint(st["entropy_deleted"]) != "1" || fmt.Sprint(st["clients_deleted"]) != "0" {
		t.Errorf("tidy on the current build: %v, want finished with the one leftover deleted", st)
	}
	checkMigrated(t, s, steadyRole, pendingIDs[1])
	mustLogin(t, s, pendingIDs[1], state[pendingIDs[1]])
	for _, id := range steadyIDs {
		checkLegacy(t, s, steadyRole, id) // tidy keeps what a record still reads
		mustLogin(t, s, id, state[id])
	}

	// Version skew, after the upgrade: the baseline CLI against the current
	// plugin, through a rotation, and from a bootstrap of its own.
	for i := range 3 {
		if i == 1 {
			requestRotation(t, s, oldCLI.role, oldCLI.id)
		}
		if _, err := cliLogin(t, s, base.cli, oldCLI); err != nil {
			t.Fatalf("the baseline CLI against the current plugin, login %d: %v", i+1, err)
		}
	}
	wantRecord(oldCLI.id, 3, 0, 2)
	fresh := bootstrapCLI(t, s, base.cli, steadyRole, "cli-baseline-2")
	if _, err := cliLogin(t, s, base.cli, fresh); err != nil {
		t.Fatalf("the baseline CLI, bootstrapped from the current plugin: %v", err)
	}
	if _, err := cliLogin(t, s, cur.cli, newCLI); err != nil {
		t.Fatalf("the current CLI against the current plugin: %v", err)
	}

	all := append(append(append([]string{}, pendingIDs...), supersededIDs[1:]...), steadyIDs...)
	all = append(all, newCLI.id, oldCLI.id, fresh.id)
	noneLocked(t, s, steadyRole, all)
	noneLocked(t, s, loadRole, loadIDs)

	state[newCLI.id], state[oldCLI.id], state[fresh.id] = newCLI.state, oldCLI.state, fresh.state
	t.Run("downgrade", func(t *testing.T) { downgradeToSchemaV1AndBack(t, s, base, cur, state, loadIDs, all) })
}
