//go:build unix

package backend

import (
	"crypto/rand"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// BenchmarkRefusalByClientExistence measures what a refused login costs
// the whole login handler, by what the forged proof names: a role that does
// not exist, a client that does not exist, or an existing client (with and
// without lockout counting). Every proof is well formed and sealed to the
// current server key, with a wrong digest (made from random entropy), so
// that each is refused with the same generic answer: the difference in
// cost is what an unauthenticated caller could time to learn whether a
// client exists (docs/threat-model.md). A refused proof claims no nonce,
// so one proof serves every iteration.
//
// On in-memory storage these are the plugin's own CPU cost; in a real
// Vault every storage access is also a round trip to Vault, and a write a
// storage-backend write (a raft commit): the existing client's refusal
// makes one more read (its entropy) and, with lockout, one write.
func BenchmarkRefusalByClientExistence(b *testing.B) {
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger()
	conf.StorageView = &logical.InmemStorage{}
	be, s := newTestBackend(b, conf), conf.StorageView
	mustOK(b, be, s, logical.UpdateOperation, "role/web", map[string]interface{}{"lockout_threshold": 0})
	// A threshold no benchmark reaches: every refusal is counted (a
	// write), none locks the client.
	mustOK(b, be, s, logical.UpdateOperation, "role/counted", map[string]interface{}{"lockout_threshold": 1 << 30})
	web := enroll(b, be, s, "web", map[string]interface{}{"client_id": "alice"})
	counted := enroll(b, be, s, "counted", map[string]interface{}{"client_id": "alice"})

	forged := func(c *testClient, role, clientID string) map[string]interface{} {
		entropy := make([]byte, len(c.entropy))
		if _, err := rand.Read(entropy); err != nil {
			b.Fatal(err)
		}
		p, _, err := protocol.NewProof(protocol.ProofInput{
			ServerKey: c.key, Role: role, ClientID: clientID, Generation: c.generation,
			Entropy: entropy, Sampling: c.sampling, IssuedAt: time.Now(),
		})
		if err != nil {
			b.Fatal(err)
		}
		return map[string]interface{}{"role": role, "client_id": clientID, "proof": p}
	}
	for _, tc := range []struct {
		name           string
		c              *testClient
		role, clientID string
	}{
		{"target=unknown-role", web, "nosuchrole", "alice"},
		{"target=unknown-client", web, "web", "nobody"},
		{"target=existing-client", web, "web", "alice"},
		{"target=existing-client-lockout", counted, "counted", "alice"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// Made here, not once for all: a proof older than the clock
			// skew would be refused before any lookup.
			data := forged(tc.c, tc.role, tc.clientID)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				resp, err := request(b, be, s, logical.UpdateOperation, "login", data)
				if err != logical.ErrPermissionDenied || (resp != nil && resp.Auth != nil) {
					b.Fatalf("forged proof: %v %v", resp, err)
				}
			}
			// CPU time as well as wall time: on a shared machine the wall
			// time mostly measures the neighbours.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
