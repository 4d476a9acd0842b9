// Package failover kills the leader of a three-node Vault raft cluster
// (scripts/raft-cluster.sh) with SIGKILL while honest clients log in, and
// checks what the replay protection promises across a leader change
// (docs/protocol.md, nonce.go): every proof accepted before, during or
// after the failover is refused when it is sent again, to any node, and no
// token comes back; no honest client is locked out; logins resume through
// the new leader. The test log reports the gap (last accepted login before
// the kill to the first one after it), how many fresh proofs the new
// leader refused once with the named "make a new proof" 400, and the
// refusals the replays got. The killed node is started again and must
// rejoin as a raft voter.
//
// The clients build their proofs with the client library
// (EntropyAuth.NewLoginRequest) and send them over plain HTTP, so that the
// test holds every accepted proof and sees each refusal; their role never
// rotates, so no receipt has to be taken up.
//
// The test runs only with ENTROPY_INTEGRATION=1 (see testing/harness).
// Its short version kills the leader once with 4 clients;
// ENTROPY_FAILOVER_ROUNDS=N kills the leader N times in a row (starting
// the killed node again after each) with 8 clients.
package failover
