package client

import (
	"context"
	"slices"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// TestLoginFollowsTheServersProofVersion: a client builds its proofs in
// the newest version its server reads, as the server's sealed receipts say
// (docs/protocol.md §9.2), so that a client upgraded before its server
// keeps logging in, and one whose server is upgraded moves on by itself.
func TestLoginFollowsTheServersProofVersion(t *testing.T) {
	f := newFakeVault(t)
	f.with(func() { f.readsVersion = 1 })
	path := f.stateFile(t) // no proof_version: as a bundle of such a server
	c := f.client(t)
	login := func(step string) {
		t.Helper()
		if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		c.SetToken("operator-token")
	}

	login("against a server that reads version 1 only")
	login("again")
	if s := mustLoad(t, path); s.ProofVersion != 1 && s.ProofVersion != 0 {
		t.Fatalf("the state says proof_version %d after receipts without one", s.ProofVersion)
	}

	// The server is upgraded: the next proof is still version 1 (nothing
	// has said otherwise); its receipt says 2, and the client moves on.
	f.with(func() { f.readsVersion = 0 })
	login("the first login after the server's upgrade")
	if s := mustLoad(t, path); s.ProofVersion != int(protocol.Version) {
		t.Fatalf("the state says proof_version %d after a receipt that says %d", s.ProofVersion, protocol.Version)
	}
	login("the second login after the upgrade")

	var versions []uint8
	f.with(func() { versions = slices.Clone(f.versions) })
	if want := []uint8{1, 1, 1, 2}; !slices.Equal(versions, want) {
		t.Fatalf("the proofs were of versions %v, want %v", versions, want)
	}
}

// TestProofVersionOfAState: what a state's proof_version makes the client
// build, including values from a newer server and a damaged file.
func TestProofVersionOfAState(t *testing.T) {
	for _, tc := range []struct {
		stored int
		want   uint8
	}{{0, 1}, {1, 1}, {2, 2}, {3, protocol.Version}, {1 << 20, protocol.Version}} {
		s := &State{ProofVersion: tc.stored}
		if got := s.proofVersion(); got != tc.want {
			t.Errorf("proof_version %d builds version %d, want %d", tc.stored, got, tc.want)
		}
	}
	f := newFakeVault(t)
	s := mustLoad(t, f.stateFile(t))
	s.ProofVersion = -1
	if err := s.Validate(); err == nil {
		t.Fatal("a state with proof_version -1 is valid")
	}
}
