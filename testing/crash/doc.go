// Package crash kills the client or the Vault server with SIGKILL in the
// middle of logins that rotate the client's entropy (a role with a
// rotation_period of 1 s, so that every login rotates), round after round,
// and checks after every round that nothing was lost: the client's state
// file is intact, its generation never went backwards, it agrees with the
// server's client record (or is one step behind it in the ways
// docs/lifecycle.md allows), and the client logs in again (the library
// retries the named "make a new proof" refusal a restarted server may
// give), is not locked and has no failure counted.
//
// A client round runs `vault-entropy login -state FILE` and kills it after
// a random delay within its usual run time; a server round kills Vault
// (scripts/vault-server.sh kill, then restart) at a random moment while two
// clients log in in a loop through the library. The test log reports where
// the client kills landed and how long the rounds took.
//
// The test runs only with ENTROPY_INTEGRATION=1 (see testing/harness). The
// suite runs 8 rounds; ENTROPY_CRASH_ROUNDS=N runs N (make crash: 100).
package crash
