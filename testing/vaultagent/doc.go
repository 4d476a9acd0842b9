// Package vaultagent tests the two ways a stock Vault Agent logs in with
// the entropy auth method, end to end against real processes: a Vault
// server with the plugin, `vault-entropy agent`, and `vault agent` from the
// same pinned Vault build (scripts/vault-agent.sh), rendering a template
// from a KV secret across re-logins and entropy rotations.
//
//   - token_file: `vault-entropy agent -sink` logs in, renews and re-logs in;
//     Vault Agent's token_file method reads the sink.
//   - jwt: `vault-entropy agent -proof-file` writes single-use proofs that
//     Vault Agent's jwt method sends to auth/entropy/login.
//
// The tests run with ENTROPY_INTEGRATION=1; see docs/vault-agent.md.
package vaultagent
