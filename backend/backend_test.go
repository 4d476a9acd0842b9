package backend

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// getTestBackend returns a backend on in-memory storage.
func getTestBackend(t testing.TB) (*entropyBackend, logical.Storage) {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	return newTestBackend(t, conf), conf.StorageView
}

// newTestBackend makes a backend as if it had started serving an hour ago,
// so that its replay window is open (nonce_test.go tests a start), and
// initializes it as Vault does when it mounts it.
func newTestBackend(t testing.TB, conf *logical.BackendConfig) *entropyBackend {
	t.Helper()
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(*entropyBackend)
	if err := b.nonces.load(context.Background(), conf.StorageView); err != nil {
		t.Fatal(err)
	}
	if err := b.Initialize(context.Background(), &logical.InitializationRequest{Storage: conf.StorageView}); err != nil {
		t.Fatal(err)
	}
	return b
}

// request runs one request the way Vault's router does: for a write, the
// path's existence check picks create or update.
func request(t testing.TB, b *entropyBackend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	t.Helper()
	return requestFrom(t, b, s, "127.0.0.1", op, path, data)
}

// requestFrom is request from the remote address addr.
func requestFrom(t testing.TB, b *entropyBackend, s logical.Storage, addr string, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	t.Helper()
	req := &logical.Request{
		Operation:  op,
		Path:       path,
		Storage:    s,
		Data:       data,
		MountPoint: "auth/entropy/",
		Connection: &logical.Connection{RemoteAddr: addr},
	}
	if op == logical.UpdateOperation {
		found, exists, err := b.HandleExistenceCheck(context.Background(), req)
		if err != nil {
			// Vault's router returns this error to the caller as it is.
			return nil, err
		}
		if found && !exists {
			req.Operation = logical.CreateOperation
		}
	}
	return b.HandleRequest(context.Background(), req)
}

// mustOK runs a request that must succeed and returns its response.
func mustOK(t testing.TB, b *entropyBackend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp, err := request(t, b, s, op, path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("%s %s: resp=%#v err=%v", op, path, resp, err)
	}
	return resp
}

// mustFail runs a request that must fail with a client error, and checks
// that storage is exactly as it was.
func mustFail(t testing.TB, b *entropyBackend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}) {
	t.Helper()
	before := storageSnapshot(t, s)
	resp, err := request(t, b, s, op, path, data)
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatalf("%s %s %v succeeded: %#v", op, path, data, resp)
	}
	if resp != nil && resp.Auth != nil {
		t.Fatalf("%s %s returned auth on failure", op, path)
	}
	if after := storageSnapshot(t, s); !equalSnapshots(before, after) {
		t.Fatalf("%s %s %v changed storage:\nbefore %v\nafter  %v", op, path, data, keysOf(before), keysOf(after))
	}
}

// storageSnapshot maps every storage key to its value.
func storageSnapshot(t testing.TB, s logical.Storage) map[string]string {
	t.Helper()
	keys, err := logical.CollectKeys(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		e, err := s.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(e.Value)
	}
	return out
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// testClient is an enrolled client as the workload holds it.
type testClient struct {
	role, id   string
	generation uint64
	entropy    []byte
	sampling   protocol.Sampling
	key        *protocol.PublicKey
	version    uint8 // the proofs' protocol version; 0: the newest
}

// enroll creates a client in role and reads its bundle.
func enroll(t testing.TB, b *entropyBackend, s logical.Storage, role string, data map[string]interface{}) *testClient {
	t.Helper()
	resp := mustOK(t, b, s, logical.UpdateOperation, "role/"+role+"/enroll", data)
	return bundleClient(t, resp)
}

// bundleClient is the client a bundle (of enroll or issue) makes.
func bundleClient(t testing.TB, resp *logical.Response) *testClient {
	t.Helper()
	d := resp.Data
	entropy, err := base64.StdEncoding.DecodeString(d["entropy"].(string))
	if err != nil {
		t.Fatal(err)
	}
	keys := d["server_keys"].([]map[string]interface{})
	suite, err := protocol.ParseSuite(keys[0]["suite"].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(keys[0]["public_key"].(string))
	pk, err := protocol.ParsePublicKey(suite, raw)
	if err != nil {
		t.Fatal(err)
	}
	if pk.ID().String() != keys[0]["key_id"] {
		t.Fatalf("bundle key_id %v does not match its public key", keys[0]["key_id"])
	}
	return &testClient{
		role:       d["role"].(string),
		id:         d["client_id"].(string),
		generation: d["generation"].(uint64),
		entropy:    entropy,
		sampling:   protocol.Sampling{Count: d["sample_count"].(int), Length: d["sample_length"].(int)},
		key:        pk,
	}
}

// proofAt builds a proof from the client's view, issued at the given time.
func (c *testClient) proofAt(t testing.TB, at time.Time) string {
	return c.challengedProofAt(t, at, nil, nil)
}

// challengedProofAt builds a proof in challenge mode: nonce n, committed to
// before challenge was fetched (no challenge: an ordinary proof).
func (c *testClient) challengedProofAt(t testing.TB, at time.Time, challenge []byte, n *protocol.Nonce) string {
	t.Helper()
	p, _, err := protocol.NewProof(protocol.ProofInput{
		ServerKey:  c.key,
		Role:       c.role,
		ClientID:   c.id,
		Generation: c.generation,
		Entropy:    c.entropy,
		Sampling:   c.sampling,
		IssuedAt:   at,
		Challenge:  challenge,
		Nonce:      n,
		Version:    c.version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *testClient) proof(t testing.TB) string { return c.proofAt(t, time.Now()) }

func (c *testClient) loginData(t testing.TB) map[string]interface{} {
	return map[string]interface{}{"role": c.role, "client_id": c.id, "proof": c.proof(t)}
}

// testClock is a backend clock that tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func useClock(b *entropyBackend) *testClock {
	c := &testClock{t: time.Now()}
	b.now = c.now
	return c
}

func readClient(t testing.TB, b *entropyBackend, s logical.Storage, role, id string) *clientEntry {
	t.Helper()
	c, err := b.client(context.Background(), s, role, id)
	if err != nil || c == nil {
		t.Fatalf("client %s/%s: %v %v", role, id, c, err)
	}
	return c
}

// entropyGenerations lists the generations whose entropy the client's
// stored entry holds (current, pending, superseded), in increasing order,
// read from storage itself rather than the cache.
func entropyGenerations(t *testing.T, s logical.Storage, role, id string) []string {
	t.Helper()
	entry, err := s.Get(context.Background(), clientStorageKey(role, id))
	if err != nil || entry == nil {
		t.Fatalf("client %s/%s: %v %v", role, id, entry, err)
	}
	c, err := decodeClientValue(entry)
	if err != nil {
		t.Fatal(err)
	}
	var gens []uint64
	for _, g := range []struct {
		n uint64
		e *generationEntropy
	}{{c.SupersededGeneration, c.supersededEntropy}, {c.Generation, c.entropy}, {c.PendingGeneration, c.pendingEntropy}} {
		if g.e != nil {
			gens = append(gens, g.n)
		}
	}
	slices.Sort(gens)
	out := make([]string, len(gens))
	for i, g := range gens {
		out[i] = strconv.FormatUint(g, 10)
	}
	return out
}

// outcome describes a login's result without its (long) receipt.
func outcome(resp *logical.Response, err error) string {
	switch {
	case err != nil:
		return "error " + err.Error()
	case resp == nil:
		return "no response"
	case resp.IsError():
		return "error response " + resp.Error().Error()
	case resp.Auth != nil:
		return "accepted"
	}
	return "response without auth"
}

// getLoggedTestBackend is getTestBackend with the log in a buffer.
func getLoggedTestBackend(t testing.TB) (*entropyBackend, logical.Storage, *bytes.Buffer) {
	t.Helper()
	buf := &bytes.Buffer{}
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Trace})
	return newTestBackend(t, conf), conf.StorageView, buf
}

func TestBackendReportsVersionAndSpecialPaths(t *testing.T) {
	b, _ := getTestBackend(t)
	if got := b.PluginVersion().Version; got != Version {
		t.Fatalf("PluginVersion = %q, want %q", got, Version)
	}
	special := b.SpecialPaths()
	if got := strings.Join(special.Unauthenticated, ","); got != "login,keys,challenge" {
		t.Errorf("Unauthenticated = %s", got)
	}
	if got := strings.Join(special.SealWrapStorage, ","); got != "keyring,client/,entropy/,challenge_key" {
		t.Errorf("SealWrapStorage = %s", got)
	}
}
