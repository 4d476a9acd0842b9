// Package postgres is the end-to-end test of dynamic PostgreSQL credentials:
// a real PostgreSQL from Debian's packages (scripts/postgres.sh, through
// harness.StartPostgres), a real Vault with its database secrets engine
// pointed at it, and a workload that logs in with entropy (the vault-entropy
// CLI, and the Go library), reads database/creds/readonly, queries the
// database with the credentials it got, and loses them when its token is
// revoked. docs/postgresql.md is the same setup for people.
//
// Run with ENTROPY_INTEGRATION=1 (make integration-test) on a machine with
// the postgresql package installed; without the variable the tests skip.
package postgres
