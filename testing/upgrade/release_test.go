package upgrade

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// TestUpgradeFromRelease: the release of testing/upgrade/baseline-commit ->
// current, as docs/install.md tells operators to upgrade, under a login
// load: no login lost, every client's generations intact across the reload
// (pending and superseded ones too), no replay accepted, nobody locked; both
// CLIs against both plugins; then a downgrade to the release and an upgrade
// again (downgradeToReleaseAndBack).
func TestUpgradeFromRelease(t *testing.T) {
	harness.Integration(t)
	root := harness.RepoRoot(t)
	base := baselineBuild(t, root, releaseBaseline)
	cur := currentBuild(t, root, base)
	t.Logf("release %s (plugin %s), current %s", base.version, base.name, cur.version)

	s := harness.StartRawServer(t)
	base.sha256 = register(t, s, base)
	pin(t, s, base)
	vault(t, s, "auth", "enable", "-path="+mount, pluginName)
	checkRunning(t, s, "at first", base)
	s.Write(t, mountPath+"/role/"+loadRole, map[string]interface{}{"rotation_period": "2s", "token_type": "batch", "token_ttl": "5m"})
	s.Write(t, mountPath+"/role/"+steadyRole, map[string]interface{}{"rotation_period": "1h", "token_type": "batch", "token_ttl": "5m"})

	// Clients on the release, as in TestUpgradeFromSchemaV1: pending-*
	// hold a generation handed out and not yet proven, superseded-* one
	// proven with the one before it kept, steady-* one generation, load-*
	// the load.
	state := map[string]string{}
	enroll := func(role, id string) { state[id] = s.Enroll(t, mountPath, role, id) }
	loadIDs, pendingIDs, supersededIDs, steadyIDs := names("load", 6), names("pending", 3), names("superseded", 3), names("steady", 3)
	for _, id := range loadIDs {
		enroll(loadRole, id)
	}
	for _, id := range append(append(append([]string{}, pendingIDs...), supersededIDs...), steadyIDs...) {
		enroll(steadyRole, id)
		mustLogin(t, s, id, state[id])
	}
	cloneState := filepath.Join(t.TempDir(), "clone.json") // superseded-0 before its rotation
	copyFile(t, state[supersededIDs[0]], cloneState)
	for _, id := range pendingIDs {
		requestRotation(t, s, steadyRole, id)
		mustLogin(t, s, id, state[id]) // hands out generation 2
		checkGenerations(t, s, steadyRole, id, 1, 2, 0)
	}
	for _, id := range supersededIDs {
		requestRotation(t, s, steadyRole, id)
		mustLogin(t, s, id, state[id]) // hands out generation 2
		mustLogin(t, s, id, state[id]) // proves it: 1 is superseded
		checkGenerations(t, s, steadyRole, id, 2, 0, 1)
	}
	// The release writes the current storage schema already.
	for _, id := range append(append([]string{}, pendingIDs...), supersededIDs...) {
		checkMigrated(t, s, steadyRole, id)
	}

	// Version skew on the release: each CLI through a rotation.
	newCLI := bootstrapCLI(t, s, cur.cli, steadyRole, "cli-current")
	oldCLI := bootstrapCLI(t, s, base.cli, steadyRole, "cli-release")
	for _, c := range []struct {
		cli string
		c   cliClient
	}{{cur.cli, newCLI}, {base.cli, oldCLI}} {
		for i := range 3 {
			if i == 1 {
				requestRotation(t, s, c.c.role, c.c.id)
			}
			if _, err := cliLogin(t, s, c.cli, c.c); err != nil {
				t.Fatalf("%s against the release plugin, login %d: %v", c.c.id, i+1, err)
			}
		}
		checkGenerations(t, s, steadyRole, c.c.id, 2, 0, 1)
	}

	replayRelease := captureLogin(t, s, state[steadyIDs[0]])
	checkReplayRefused(t, s, "replay on the release, at once", replayRelease)
	// The release's receipts say it reads proof version 2.
	proofVersions(t, state, loadIDs, 2)

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
	waitFor(t, "every load client to log in after the reload", 90*time.Second, func() bool {
		return load.since(reloadedAt.Add(5 * time.Second))
	})
	ok, slow, failures := load.finish()
	t.Logf("load: %d logins accepted, %d of them after a retry with a new proof", ok, slow)
	if len(failures) > 0 {
		t.Errorf("logins lost across the upgrade:\n%s", strings.Join(failures, "\n"))
	}
	checkReplayRefused(t, s, "replay of a release login after the upgrade", replayRelease)
	proofVersions(t, state, loadIDs, 2)
	for _, id := range loadIDs {
		checkMigrated(t, s, loadRole, id)
	}

	// Generations intact across the reload.
	for _, id := range pendingIDs {
		checkGenerations(t, s, steadyRole, id, 1, 2, 0)
		mustLogin(t, s, id, state[id]) // proves 2
		checkGenerations(t, s, steadyRole, id, 2, 0, 1)
	}
	for _, id := range supersededIDs {
		checkGenerations(t, s, steadyRole, id, 2, 0, 1)
	}
	// The superseded generation is still known: a fresh proof of it is a
	// clone's.
	if _, err := login(t, s, cloneState); err == nil {
		t.Error("a proof of the superseded generation was accepted")
	}
	if r := readClient(t, s, steadyRole, supersededIDs[0]); !r.locked || !strings.Contains(r.lockReason, "clone detected: generation 1") {
		t.Errorf("a fresh proof of the superseded generation after the upgrade: %+v, want locked as a clone", r)
	}
	for _, id := range supersededIDs[1:] {
		mustLogin(t, s, id, state[id]) // proves 2 again: nothing changes
		requestRotation(t, s, steadyRole, id)
		mustLogin(t, s, id, state[id]) // hands out 3
		mustLogin(t, s, id, state[id]) // proves it
		checkGenerations(t, s, steadyRole, id, 3, 0, 2)
	}
	for _, id := range steadyIDs {
		mustLogin(t, s, id, state[id])
	}

	// Version skew on the current build: the release's CLI through a
	// rotation and from a bootstrap of its own, and the current CLI.
	for i := range 3 {
		if i == 1 {
			requestRotation(t, s, oldCLI.role, oldCLI.id)
		}
		if _, err := cliLogin(t, s, base.cli, oldCLI); err != nil {
			t.Fatalf("the release CLI against the current plugin, login %d: %v", i+1, err)
		}
	}
	checkGenerations(t, s, steadyRole, oldCLI.id, 3, 0, 2)
	fresh := bootstrapCLI(t, s, base.cli, steadyRole, "cli-release-2")
	if _, err := cliLogin(t, s, base.cli, fresh); err != nil {
		t.Fatalf("the release CLI, bootstrapped from the current plugin: %v", err)
	}
	if _, err := cliLogin(t, s, cur.cli, newCLI); err != nil {
		t.Fatalf("the current CLI against the current plugin: %v", err)
	}

	steady := append(append(append([]string{}, pendingIDs...), supersededIDs[1:]...), steadyIDs...)
	noneLocked(t, s, loadRole, loadIDs)
	noneLocked(t, s, steadyRole, steady)

	t.Run("downgrade", func(t *testing.T) {
		downgradeToReleaseAndBack(t, s, base, cur, state, loadIDs, steady, map[string]cliClient{base.cli: oldCLI, cur.cli: newCLI})
	})
}

// downgradeToReleaseAndBack pins the release again and reloads, then the
// current build again. The release reads the storage schema and the proof
// version the current build writes, so on each side every client logs in,
// both CLIs too, a replay of a login the other side accepted is refused,
// and nobody is locked. When a change raises the storage schema or the
// proof version past the release's, this must expect instead the refusal
// that names both versions, as downgradeToSchemaV1AndBack does.
func downgradeToReleaseAndBack(t *testing.T, s *harness.Server, base, cur build, state map[string]string, loadIDs, steadyIDs []string, clis map[string]cliClient) {
	replay := captureLogin(t, s, state[steadyIDs[len(steadyIDs)-1]])
	for _, step := range []struct {
		b    build
		when string
	}{{base, "after the downgrade"}, {cur, "after the upgrade again"}} {
		pin(t, s, step.b)
		reload(t, s)
		checkRunning(t, s, step.when, step.b)
		for _, id := range append(append([]string{}, loadIDs...), steadyIDs...) {
			mustLogin(t, s, id+" "+step.when, state[id])
		}
		for cli, c := range clis {
			if _, err := cliLogin(t, s, cli, c); err != nil {
				t.Errorf("%s %s: %v", c.id, step.when, err)
			}
		}
		checkReplayRefused(t, s, "replay of an accepted login "+step.when, replay)
		replay = captureLogin(t, s, state[steadyIDs[len(steadyIDs)-1]])
		noneLocked(t, s, loadRole, loadIDs)
		noneLocked(t, s, steadyRole, steadyIDs)
	}
}

// noneLocked fails for each client of ids that is locked.
func noneLocked(t *testing.T, s *harness.Server, role string, ids []string) {
	t.Helper()
	for _, id := range ids {
		if r := readClient(t, s, role, id); r.locked {
			t.Errorf("client %s is locked: %s", id, r.lockReason)
		}
	}
}
