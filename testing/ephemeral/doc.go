// Package ephemeral runs the examples of docs/ci-and-serverless.md as their
// workloads run them, against a real Vault with the plugin from the
// catalog and a real PostgreSQL behind the database secrets engine:
// docs/examples/ci-job.sh as a CI system runs a job (its state in
// VAULT_ENTROPY_STATE; a KV secret and database credentials; its token
// revoked at exit) and docs/examples/serverless as a function runtime
// runs a function (a process started cold for each invocation, from a
// state file bundled read-only). Both are run across a deploy-time
// rotation: old and new copies at once during the role's
// generation_overlap, and after it the old copy refused and logged as a
// clone.
//
// Run with ENTROPY_INTEGRATION=1 (make integration-test) on a machine with
// the postgresql and jq packages installed; without the variable the tests
// skip. The serverless example is built from the repository with the go
// command on PATH.
package ephemeral
