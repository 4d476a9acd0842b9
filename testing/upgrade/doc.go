// Package upgrade tests in-place upgrades of the plugin under live traffic
// against a real Vault (ENTROPY_INTEGRATION=1), from two baselines, each
// built from `git archive` of the commit a file here names
// (scripts/build-plugin-at.sh):
//
//   - baseline-commit, the newest release (TestUpgradeFromRelease): what
//     operators run;
//   - schema-v1-commit, the last build of storage schema version 1
//     (TestUpgradeFromSchemaV1), so that the migration from it stays
//     tested.
//
// Each registers the baseline by sha256 and version and pins it; clients
// enroll and some are left mid-rotation; while a login load runs, the
// current build is registered as a new version, pinned, and the plugin
// reloaded, as docs/install.md tells operators. Afterwards no login was
// lost, every client's generations are intact, no replay passes the
// reload, no client is locked, and records are in the current storage
// schema once written. Then a downgrade to the baseline: the release reads
// what the current build writes and serves every client; the schema
// version 1 build cannot, and must refuse cleanly and leave storage as it
// was. Then an upgrade again. The CLI of either build logs in against the
// plugin of the other.
package upgrade
