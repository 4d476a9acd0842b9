// Package upgrade tests an in-place upgrade of the plugin under live
// traffic against a real Vault (ENTROPY_INTEGRATION=1): the plugin built at
// the baseline commit (testing/upgrade/baseline-commit, built from
// `git archive` by scripts/build-plugin-at.sh) is registered by sha256 and
// version and pinned; clients enroll and some are left mid-rotation; while
// a login load runs, the current build is registered as a new version,
// pinned, and the plugin reloaded, as docs/install.md tells operators.
// Afterwards no login was lost, every client's generations are intact, no
// replay passes the reload, no client is locked, and records are in the
// current storage schema once written. Then a downgrade to the baseline,
// which must refuse cleanly (it cannot read schema version 2) and leave
// storage as it was, and an upgrade again. The CLI of either build logs
// in against the plugin of the other.
package upgrade
