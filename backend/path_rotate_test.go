package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleRotate(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	if readClientData(t, b, s, "web", "a")["rotation_due"] != false {
		t.Fatal("a new client is due for rotation")
	}

	clock.advance(time.Second)
	mustOK(t, b, s, logical.UpdateOperation, "role/web/rotate", nil)
	r, _ := b.role(t.Context(), s, "web")
	if !r.RotateBefore.Equal(clock.now().UTC()) {
		t.Fatalf("rotate_before = %v, want %v", r.RotateBefore, clock.now())
	}
	// Every existing client is due; its record is not rewritten.
	if readClientData(t, b, s, "web", "a")["rotation_due"] != true {
		t.Fatal("rotation not due after role/rotate")
	}
	if readClient(t, b, s, "web", "a").RotateRequested {
		t.Fatal("role/rotate wrote the client")
	}
	// A client enrolled afterwards is not.
	clock.advance(time.Second)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "b"})
	if readClientData(t, b, s, "web", "b")["rotation_due"] != false {
		t.Fatal("a client enrolled after role/rotate is due")
	}
}

func TestClientRotate(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "b"})
	before := storageSnapshot(t, s)

	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/a/rotate", nil)
	d := readClientData(t, b, s, "web", "a")
	if d["rotate_requested"] != true || d["rotation_due"] != true || d["generation"] != uint64(1) {
		t.Fatalf("after client rotate: %v", d)
	}
	if readClientData(t, b, s, "web", "b")["rotation_due"] != false {
		t.Fatal("rotating a rotated b")
	}
	// Only a's record changed: no entropy was written or removed.
	after := storageSnapshot(t, s)
	for k, v := range before {
		if k != clientStorageKey("web", "a") && after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("client rotate added or removed entries: %v", keysOf(after))
	}
}

func TestRotateRejectsBadInput(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	for _, path := range []string{
		"role/nope/rotate",
		"role/Web/rotate",
		"role/web/client/nope/rotate",
		"role/nope/client/a/rotate",
		"role/web/client/A/rotate",
		"role/web./client/a/rotate",
	} {
		t.Run(path, func(t *testing.T) {
			mustFail(t, b, s, logical.UpdateOperation, path, nil)
		})
	}
	t.Run("missing client is a 404", func(t *testing.T) {
		_, err := request(t, b, s, logical.UpdateOperation, "role/web/client/nope/rotate", nil)
		if coded, ok := err.(logical.HTTPCodedError); !ok || coded.Code() != 404 {
			t.Fatalf("err = %v", err)
		}
	})
}

func readClientData(t *testing.T, b *entropyBackend, s logical.Storage, role, id string) map[string]interface{} {
	t.Helper()
	return mustOK(t, b, s, logical.ReadOperation, "role/"+role+"/client/"+id, nil).Data
}
