package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// A party on the path holds back a proof of generation 1, lets the client
// rotate and prove generation 2, then sends the proof: it was made before
// the client moved on, so it is stale, not a clone (docs/protocol.md
// §14.3). A copy of the old state used after the promotion still is one.
func TestWithheldProofOfSupersededGenerationIsStale(t *testing.T) {
	for _, tc := range []struct {
		name string
		// after is how long after the promoting proof the thief's proof is
		// issued (by the same clock); zero or less: a withheld proof.
		after time.Duration
		clone bool
	}{
		{name: "withheld, issued 30 seconds before", after: -30 * time.Second},
		{name: "withheld, issued in the second of the promotion", after: 0},
		{name: "copy used a second after", after: time.Second, clone: true},
		{name: "copy used an hour after", after: time.Hour, clone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s, a := setupRotation(t, nil)
			a.clock.advance(time.Hour)
			a.login(t, b, s) // handed generation 2
			old := a.copy()  // the state before it saves generation 2 as current
			a.clock.advance(2 * time.Minute)
			promotedAt := a.clock.now()
			a.login(t, b, s) // proves generation 2: 1 is superseded
			issued := promotedAt.Add(tc.after)
			if tc.after > 0 {
				a.clock.advance(tc.after)
			}
			old.pending = nil // it proves generation 1
			before := a.logs.Len()
			resp, err := request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{
				"role": old.role, "client_id": old.id, "proof": old.proofAt(t, issued),
			})
			if err != logical.ErrPermissionDenied || resp != nil {
				t.Fatalf("proof of the superseded generation: %s, want permission denied", outcome(resp, err))
			}
			rec := readClient(t, b, s, "web", "agent-1")
			logged := a.logs.String()[before:]
			if tc.clone {
				if !rec.Locked || !strings.Contains(logged, "clone detected") {
					t.Fatalf("a copy used after the promotion: locked %v, log:\n%s", rec.Locked, logged)
				}
				return
			}
			if rec.Locked || strings.Contains(logged, "clone detected") || !strings.Contains(logged, "stale, not a clone") {
				t.Fatalf("a withheld proof: locked %v (%s), log:\n%s", rec.Locked, rec.LockReason, logged)
			}
			a.login(t, b, s) // the honest client goes on
		})
	}
}
