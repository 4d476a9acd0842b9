// Package client is the workload's side of the entropy auth method: it
// keeps the client state (entropy, IDs, server keys) in a file, turns an
// enrollment bundle into that state, builds proofs and logs in to Vault as
// a vault/api AuthMethod. Every login checks the server's sealed receipt
// and keeps what it brings (the next entropy generation, new server keys)
// in the state file, under a file lock shared by every process using that
// file. It imports the wire protocol and vault/api, never the backend, so
// a workload binary does not carry the server.
package client
