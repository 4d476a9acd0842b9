// Package adversarial attacks a real Vault server running the entropy auth
// method: malformed, truncated, oversized and non-canonical proofs, proofs
// with a wrong suite, key or header, replays, proofs moved to another
// client or role, superseded and invented generations, ranges the nonce did
// not derive, clock skew both ways, a flood of garbage, and anonymous reads of
// the keys and challenges on a fresh mount. Every case
// asserts the refusal the caller sees (Vault's generic 403, or a named 400
// where docs/protocol.md §8.2 names one, or a 400 for a malformed request
// field), that no token is issued, that the mount's storage does not change
// (read through sys/raw) beyond what docs/protocol.md §15 allows, that the
// server neither panics nor loses its plugin process, and that the honest
// client still logs in afterwards.
//
// The tests run only with ENTROPY_INTEGRATION=1 (see testing/harness).
// ENTROPY_ADVERSARIAL_LONG=1 makes the garbage flood and the cost
// measurement ten times longer.
package adversarial
