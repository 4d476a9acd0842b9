// Package integration proves every user-visible flow of the entropy auth
// method against a real Vault server process, with the plugin registered
// from the catalog by sha256 and version. The harness package starts the
// server through the project's scripts. Run with `make integration-test`
// (ENTROPY_INTEGRATION=1); without it the tests skip.
package integration
