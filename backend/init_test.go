package backend

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// uninitializedBackend is a backend that Vault has set up but not (yet)
// initialized, on the given system view and storage.
func uninitializedBackend(t *testing.T, sys logical.SystemView, s logical.Storage) *entropyBackend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = s
	if sys != nil {
		conf.System = sys
	}
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*entropyBackend)
}

func initialize(t *testing.T, b *entropyBackend, s logical.Storage) {
	t.Helper()
	if err := b.Initialize(context.Background(), &logical.InitializationRequest{Storage: s}); err != nil {
		t.Fatal(err)
	}
}

// anonymousRequests is what anyone can send: the keys, challenges for
// names that exist or not, and logins with forged proofs.
func anonymousRequests(t *testing.T, b *entropyBackend, s logical.Storage, n int) {
	t.Helper()
	nonce, _ := protocol.NewNonce()
	for i := range n {
		mustOK(t, b, s, logical.ReadOperation, "keys", nil)
		mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData("web", "a", nonce))
		mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData("no-role", "nobody", nonce))
		if i%10 == 0 {
			request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": "web", "client_id": "a", "proof": "garbage"})
		}
	}
}

func TestInitializationCreatesTheKeys(t *testing.T) {
	s := &logical.InmemStorage{}
	b := uninitializedBackend(t, nil, s)
	if snap := storageSnapshot(t, s); len(snap) != 0 {
		t.Fatalf("storage before initialization: %v", keysOf(snap))
	}
	initialize(t, b, s)
	snap := storageSnapshot(t, s)
	kr, err := readKeyring(context.Background(), s)
	if err != nil || kr == nil || len(kr.Keys) != 1 {
		t.Fatalf("keyring after initialization: %v %v", kr, err)
	}
	if len(snap[challengeKeyStorageKey]) != protocol.ChallengeKeySize {
		t.Fatalf("challenge key after initialization: %v", keysOf(snap))
	}
	// A restart, a reload or a new leader initializes again: the keys stay.
	initialize(t, uninitializedBackend(t, nil, s), s)
	if !equalSnapshots(snap, storageSnapshot(t, s)) {
		t.Fatal("a second initialization changed the keys")
	}
}

func TestAnonymousRequestsWriteNothing(t *testing.T) {
	s := &logical.InmemStorage{}
	b := uninitializedBackend(t, nil, s)
	initialize(t, b, s)
	initialized := storageSnapshot(t, s)

	// A fresh mount: nothing but what initialization wrote, byte for byte,
	// through a flood of anonymous requests.
	anonymousRequests(t, b, s, 50)
	if after := storageSnapshot(t, s); !equalSnapshots(initialized, after) {
		t.Fatalf("anonymous requests on a fresh mount wrote:\nbefore %v\nafter  %v", keysOf(initialized), keysOf(after))
	}
	// And once the keys have left the caches, as after a restart.
	anonymousRequests(t, uninitializedBackend(t, nil, s), s, 1)
	if !equalSnapshots(initialized, storageSnapshot(t, s)) {
		t.Fatal("anonymous requests to a restarted backend wrote")
	}
}

func TestAnonymousRequestsNeverCreateTheKeys(t *testing.T) {
	// Initialization failed (or has not run): the unauthenticated
	// endpoints say so and create nothing; the periodic function retries.
	s := &logical.InmemStorage{}
	b := uninitializedBackend(t, nil, s)
	nonce, _ := protocol.NewNonce()
	for _, tc := range []struct {
		op   logical.Operation
		path string
		data map[string]interface{}
	}{
		{logical.ReadOperation, "keys", nil},
		{logical.UpdateOperation, "challenge", challengeData("web", "a", nonce)},
	} {
		resp, err := request(t, b, s, tc.op, tc.path, tc.data)
		if err == nil || errors.Is(err, logical.ErrReadOnly) || (resp != nil && resp.Data != nil && resp.Data["keys"] != nil) {
			t.Fatalf("%s without keys: %v %v", tc.path, resp, err)
		}
	}
	if snap := storageSnapshot(t, s); len(snap) != 0 {
		t.Fatalf("anonymous requests created %v", keysOf(snap))
	}
	periodic(t, b, s)
	mustOK(t, b, s, logical.ReadOperation, "keys", nil)
	mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData("web", "a", nonce))
}

func TestKeysCreatedOnlyWhereStorageIsWritable(t *testing.T) {
	s := &logical.InmemStorage{}
	standby := uninitializedBackend(t, &logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceStandby}, s)
	initialize(t, standby, s)
	periodic(t, standby, s)
	if snap := storageSnapshot(t, s); len(snap) != 0 {
		t.Fatalf("a performance standby wrote %v", keysOf(snap))
	}
	// Until the active node has made the keys, the standby hands the
	// request on (Vault forwards a request refused with ErrReadOnly).
	nonce, _ := protocol.NewNonce()
	if _, err := request(t, standby, s, logical.ReadOperation, "keys", nil); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("keys on a standby without keys: %v", err)
	}
	if _, err := request(t, standby, s, logical.UpdateOperation, "challenge", challengeData("web", "a", nonce)); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("challenge on a standby without keys: %v", err)
	}

	active := uninitializedBackend(t, nil, s)
	initialize(t, active, s)
	want := mustOK(t, active, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]
	if got := mustOK(t, standby, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]; got != want {
		t.Fatalf("standby serves key %v, the active node %v", got, want)
	}
	mustOK(t, standby, s, logical.UpdateOperation, "challenge", challengeData("web", "a", nonce))
}

func TestLoginOnFreshlyInitializedMount(t *testing.T) {
	// The first request to a new mount may be a login in challenge mode:
	// everything it needs was made at initialization.
	s := &logical.InmemStorage{}
	b := uninitializedBackend(t, nil, s)
	initialize(t, b, s)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"challenge_required": true})
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	b = uninitializedBackend(t, nil, s) // nothing cached
	initialize(t, b, s)
	n, _ := protocol.NewNonce()
	raw := mustOK(t, b, s, logical.UpdateOperation, "challenge", challengeData("web", "a", n)).Data["challenge"].(string)
	challenge, err := protocol.ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	proof := c.challengedProofAt(t, b.now(), challenge, n)
	if resp := mustOK(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": "web", "client_id": "a", "proof": proof}); resp.Auth == nil {
		t.Fatal("no auth")
	}
}
