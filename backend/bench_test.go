package backend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// BenchmarkServerVerify sets the server's whole verification of a login
// beside the bare decryption it contains, per suite, named so that
// benchstat can put the steps in columns (scripts/bench.sh, -col /step):
//
//	BenchmarkServerVerify/suite=<s>/step=open    Envelope.Open: the HPKE (or RSA-OAEP) open
//	                                             and the payload's decoding, of an already
//	                                             parsed proof, with the already parsed key
//	BenchmarkServerVerify/suite=<s>/step=verify  login (checkProof, authenticate, settle), as
//	                                             the login path calls it: parse,
//	                                             config/keyring/role (read cache), open,
//	                                             client record and entropy reads, range
//	                                             derivation, sample hash, nonce claim
//	                                             (whatever nonce store is current)
//
// Neither includes what the login path does after verification (sealing the
// receipt, logging) nor what Vault does around it (the gRPC hop to the
// plugin, storage reads through it, token creation), so the figures are the
// plugin's own CPU cost on in-memory storage. The role, the entropy size and
// the sampling are the defaults.
//
// Every proof is accepted once, so each iteration needs a fresh one, and
// making a proof costs about as much as checking it. The proofs are made
// before the timer starts, b.N of them, rather than one per iteration
// between StopTimer and StartTimer (which read memory statistics on every
// call, a cost of the same order as what is measured). The open step opens
// the same pool, so both steps see the same inputs.
func BenchmarkServerVerify(b *testing.B) {
	for _, suite := range protocol.Suites() {
		f := newVerifyBench(b, suite)
		b.Run("suite="+suiteShortName(suite), func(b *testing.B) {
			b.Run("step=open", func(b *testing.B) {
				envs := make([]*protocol.Envelope, b.N)
				for i, p := range f.proofs(b, b.N) {
					env, err := protocol.ParseProof(p)
					if err != nil {
						b.Fatal(err)
					}
					envs[i] = env
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := envs[i].Open(f.sk); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("step=verify", func(b *testing.B) {
				proofs := f.proofs(b, b.N)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					in := &loginRequest{role: f.client.role, clientID: f.client.id, proof: proofs[i]}
					receipt, err := f.backend.login(f.backend.newLogin(ctx, f.req, in))
					if err != nil || receipt == nil {
						b.Fatalf("proof %d of %d refused: %v", i, b.N, err)
					}
				}
			})
		})
	}
}

// verifyBench is one backend with one enrolled client, shared by every run
// of a suite's benchmarks: generating an RSA key takes about a second.
type verifyBench struct {
	backend *entropyBackend
	req     *logical.Request
	client  *testClient
	sk      *protocol.PrivateKey
}

func newVerifyBench(b *testing.B, suite protocol.Suite) *verifyBench {
	b.Helper()
	// A silent logger: the set-up's log lines would end up among the results.
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger()
	conf.StorageView = &logical.InmemStorage{}
	be, s := newTestBackend(b, conf), conf.StorageView
	mustOK(b, be, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": suite.String()})
	mustOK(b, be, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read"})
	c := enroll(b, be, s, "web", map[string]interface{}{"client_id": "agent-1"})
	if c.key.Suite() != suite {
		b.Fatalf("enrolled with a %s key, want %s", c.key.Suite(), suite)
	}
	kr, err := be.cachedKeyring(context.Background(), s)
	if err != nil {
		b.Fatal(err)
	}
	sk, err := be.privateKey(kr, c.key.ID())
	if err != nil {
		b.Fatal(err)
	}
	return &verifyBench{
		backend: be,
		req: &logical.Request{
			Operation:  logical.UpdateOperation,
			Path:       "login",
			Storage:    s,
			MountPoint: "auth/entropy/",
			Connection: &logical.Connection{RemoteAddr: "127.0.0.1"},
		},
		client: c,
		sk:     sk,
	}
}

// proofs makes n fresh proofs, issued now: the pool one run consumes. They
// stay within the clock skew (60 s by default) for as long as a run lasts.
func (f *verifyBench) proofs(b *testing.B, n int) []string {
	b.Helper()
	out := make([]string, n)
	now := time.Now()
	for i := range out {
		out[i] = f.client.proofAt(b, now)
	}
	return out
}

// suiteShortName is the first word of a suite's name: xwing, p256, rsa3072.
func suiteShortName(s protocol.Suite) string {
	name, _, _ := strings.Cut(s.String(), "-")
	return name
}

// TestSuiteShortNames pins the suite names the benchmarks carry, which
// scripts/bench.sh prints and docs/performance.md quotes.
func TestSuiteShortNames(t *testing.T) {
	want := map[protocol.Suite]string{protocol.SuiteXWing: "xwing", protocol.SuiteP256: "p256", protocol.SuiteRSA3072: "rsa3072"}
	for _, suite := range protocol.Suites() {
		if got := suiteShortName(suite); got != want[suite] {
			t.Errorf("suiteShortName(%s) = %q, want %q", suite, got, want[suite])
		}
	}
}
