// Package load measures the entropy auth method against AppRole on one real
// Vault server (single-node raft, loopback only), in one run:
//
//   - a concurrency sweep of logins: entropy, the floor plugin (the least an
//     external auth plugin does per login) and AppRole (secret_id reused,
//     and single-use secret_ids), each with service and with batch tokens;
//   - the per-login cost with a small and a large population of enrolled
//     clients (1,000 and 100,000 by default);
//   - login latency with and without entropy rotation running in the
//     background (a rotation is a login handed a new generation plus a
//     login proving it, see docs/lifecycle.md);
//   - the cost of a flood of garbage proofs next to valid ones, in Vault and
//     plugin CPU time per 1,000 requests;
//   - a soak at saturation (Soak) that samples storage and memory.
//
// Every phase is bounded in count and in time. Proofs and request bodies are
// made before each timed phase (Config.InlineProofs makes them inside it
// instead), so that the load generator's own cryptography does not take CPU
// from Vault while it is being measured; the rotation worker and the soak
// make theirs as they go, because each proof depends on the last receipt.
// The service tokens of a phase are revoked after it, outside every timed
// window, so that their expiry does not land in a later phase (revoke.go);
// Config.PerfDir records each phase with perf for a profile (perf.go).
//
// cmd/entropy-load starts the server with scripts/vault-server.sh and runs
// everything (make load, make soak); the package's test runs a tiny version
// against harness.StartServer with ENTROPY_INTEGRATION=1, asserting that
// every phase ran without errors and never asserting a timing.
package load
