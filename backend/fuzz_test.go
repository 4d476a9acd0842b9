package backend

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// The login endpoint is unauthenticated: its fields are the backend's
// untrusted input. These targets drive it with fixtures from the protocol
// test vectors rather than keys made at start-up, because the fuzzing
// coordinator and its workers are separate processes that each run the
// set-up: a proof sealed to a key one process made would open in no other.

// fuzzVector is the part of a docs/vectors ok file a login needs.
type fuzzVector struct {
	suite          protocol.Suite
	keyID          string
	private        []byte
	public         []byte
	role, clientID string
	generation     uint64
	entropy        []byte
	sampling       protocol.Sampling
	now            time.Time
	proof          string
}

func readFuzzVector(tb testing.TB, name string) *fuzzVector {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "docs", "vectors", name))
	if err != nil {
		tb.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n\n")
	h := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h[k] = v
	}
	b64 := func(k string) []byte {
		b, err := base64.StdEncoding.DecodeString(h[k])
		if err != nil {
			tb.Fatalf("%s: %s: %v", name, k, err)
		}
		return b
	}
	num := func(k string) int64 {
		n, err := strconv.ParseInt(h[k], 10, 64)
		if err != nil {
			tb.Fatalf("%s: %s: %v", name, k, err)
		}
		return n
	}
	s, err := protocol.ParseSuite(h["suite"])
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzVector{
		suite: s, keyID: h["key_id"], private: b64("server_private_key"), public: b64("server_public_key"),
		role: h["role"], clientID: h["client_id"], generation: uint64(num("generation")), entropy: b64("entropy"),
		sampling: protocol.Sampling{Count: int(num("sample_count")), Length: int(num("sample_length"))},
		now:      time.Unix(num("now"), 0), proof: body,
	}
}

// fuzzLoginBackend is a backend whose storage holds the vectors' server
// keys (the first current, the others retired within their grace period)
// and their one client, with its clock at the vectors' now: each ok
// vector's proof is a valid login, once.
func fuzzLoginBackend(tb testing.TB) (*entropyBackend, logical.Storage, []*fuzzVector) {
	tb.Helper()
	var vs []*fuzzVector
	for _, name := range []string{"ok_xwing", "ok_p256", "ok_rsa3072"} {
		vs = append(vs, readFuzzVector(tb, name))
	}
	conf := logical.TestBackendConfig()
	conf.Logger = hclog.NewNullLogger() // every refusal is logged
	conf.StorageView = &logical.InmemStorage{}
	b, s := newTestBackend(tb, conf), conf.StorageView
	now := vs[0].now
	b.now = func() time.Time { return now }
	ctx := context.Background()
	mustOK(tb, b, s, logical.UpdateOperation, "role/"+vs[0].role, map[string]interface{}{"token_policies": "web-read"})
	kr := &keyring{}
	for i, v := range vs {
		k := storedKey{ID: v.keyID, Suite: v.suite.String(), PrivateKey: v.private, PublicKey: v.public, CreatedAt: now.Add(-time.Hour)}
		if i > 0 {
			k.RetiredAt = now.Add(-time.Minute)
		}
		kr.Keys = append(kr.Keys, k)
	}
	if err := b.storeCached(ctx, s, keyringStorageKey, kr); err != nil {
		tb.Fatal(err)
	}
	v := vs[0]
	r, err := b.role(ctx, s, v.role)
	if err != nil {
		tb.Fatal(err)
	}
	c := &clientEntry{
		ClientID: v.clientID, Role: v.role, RoleInstanceID: r.InstanceID, EnrollmentID: "fuzz", AliasName: sharedAliasName(v.role, v.clientID),
		Generation: v.generation, EntropySize: len(v.entropy),
		SampleCount: v.sampling.Count, SampleLength: v.sampling.Length, CreatedAt: now, GenerationCreatedAt: now,
		entropy: newGenerationEntropy(v.entropy),
	}
	if err := b.putClient(ctx, s, c); err != nil {
		tb.Fatal(err)
	}
	return b, s, vs
}

// loginFields is the login path's schema, for FieldData.
func loginFields(b *entropyBackend) map[string]*framework.FieldSchema { return pathLogin(b).Fields }

// FuzzParseLoginRequest: whatever the four fields hold, parseLoginRequest
// returns either an error response or a request with every field present,
// taken from the right field: proof and client_id as given, or the trimmed
// jwt and the client ID of its header.
func FuzzParseLoginRequest(f *testing.F) {
	b, _ := getTestBackend(f)
	fields := loginFields(b)
	p := readFuzzVector(f, "ok_xwing").proof
	f.Add("web", "client-1", p, "")
	f.Add("web", "", "", " "+p+"\n")
	f.Add("web", "client-1", "", p)
	f.Add("web", "", p, p)
	f.Add("web", "", "", "not a proof")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, role, clientID, proof, jwt string) {
		raw := map[string]interface{}{"role": role, "client_id": clientID, "proof": proof, "jwt": jwt}
		lr, resp := parseLoginRequest(&framework.FieldData{Raw: raw, Schema: fields})
		if resp != nil {
			if lr != nil || !resp.IsError() {
				t.Fatalf("a response that is not an error, or with a request: %#v", resp)
			}
			return
		}
		if lr.role != role || lr.role == "" || lr.clientID == "" || lr.proof == "" {
			t.Fatalf("accepted %+v from %q", lr, raw)
		}
		switch {
		case jwt == "" && (lr.proof != proof || lr.clientID != clientID || lr.env != nil):
			t.Fatalf("proof shape: %+v from %q", lr, raw)
		case jwt != "" && (proof != "" || lr.proof != strings.TrimSpace(jwt)):
			t.Fatalf("jwt shape: proof %q from %q", lr.proof, raw)
		case jwt != "" && clientID != "" && (lr.clientID != clientID || lr.env != nil):
			t.Fatalf("jwt shape with client_id: %+v", lr)
		case jwt != "" && clientID == "" && (lr.env == nil || lr.clientID != lr.env.Header.ClientID):
			t.Fatalf("jwt shape without client_id: %+v", lr)
		}
	})
}

// FuzzLogin sends arbitrary login requests to a backend holding the
// vectors' keys and client. Only the vectors' own proofs may log in, each
// at most once, with the auth of their client; every refusal is a
// permission denied or an error response, with no auth and no storage
// change; and the alias lookahead Vault runs before a login never fails
// with anything but an error response.
func FuzzLogin(f *testing.F) {
	b, s, vs := fuzzLoginBackend(f)
	genuine := map[string]bool{}
	for _, v := range vs {
		genuine[v.proof] = true
		f.Add(v.role, v.clientID, v.proof, "")
		f.Add(v.role, "", "", v.proof+"\n")
		f.Add(v.role, v.clientID, v.proof[:len(v.proof)-1], "")
		f.Add("other", v.clientID, v.proof, "")
	}
	f.Add("web", "client-2", "", "")
	f.Add("web", "client-1", strings.Repeat("A", protocol.MaxProofLength+1), "")
	accepted := map[string]bool{}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, role, clientID, proof, jwt string) {
		data := map[string]interface{}{"role": role, "client_id": clientID, "proof": proof, "jwt": jwt}
		req := func(op logical.Operation) *logical.Request {
			return &logical.Request{Operation: op, Path: "login", Storage: s, Data: data,
				MountPoint: "auth/entropy/", Connection: &logical.Connection{RemoteAddr: "127.0.0.1"}}
		}
		if resp, err := b.HandleRequest(ctx, req(logical.AliasLookaheadOperation)); err != nil || (resp != nil && !resp.IsError() && resp.Auth == nil) {
			t.Fatalf("alias lookahead: %#v, %v", resp, err)
		}
		before := storageSnapshot(t, s)
		resp, err := b.HandleRequest(ctx, req(logical.UpdateOperation))
		if err == nil && resp != nil && resp.Auth != nil {
			sent := proof
			if jwt != "" {
				sent = strings.TrimSpace(jwt)
			}
			if !genuine[sent] || role != vs[0].role || (clientID != "" && clientID != vs[0].clientID) {
				t.Fatalf("logged in with role %q client_id %q and a proof that is not a vector's", role, clientID)
			}
			if accepted[sent] {
				t.Fatal("a proof logged in twice")
			}
			accepted[sent] = true
			if resp.Auth.Metadata["client_id"] != vs[0].clientID || resp.Auth.Alias.Name != vs[0].role+"/"+vs[0].clientID {
				t.Fatalf("logged in as %v", resp.Auth.Metadata)
			}
			return
		}
		switch {
		case err != nil && !errors.Is(err, logical.ErrPermissionDenied):
			t.Fatalf("refused with a fault: %v", err)
		case err == nil && (resp == nil || !resp.IsError()):
			t.Fatalf("neither a login nor a refusal: %#v", resp)
		}
		if after := storageSnapshot(t, s); !equalSnapshots(before, after) {
			t.Fatalf("a refused login changed storage: %v -> %v", keysOf(before), keysOf(after))
		}
	})
}

// TestFuzzLoginBackend checks FuzzLogin's fixture: without it the target
// could pass by refusing everything. Each vector's proof logs in once, in
// either shape, and is refused the second time.
func TestFuzzLoginBackend(t *testing.T) {
	b, s, vs := fuzzLoginBackend(t)
	for i, v := range vs {
		data := map[string]interface{}{"role": v.role, "client_id": v.clientID, "proof": v.proof}
		if i == 1 {
			data = map[string]interface{}{"role": v.role, "jwt": v.proof + "\n"}
		}
		resp := mustOK(t, b, s, logical.UpdateOperation, "login", data)
		if resp.Auth == nil {
			t.Fatalf("%s: no auth", v.suite)
		}
		mustFail(t, b, s, logical.UpdateOperation, "login", data)
	}
}
