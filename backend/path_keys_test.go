package backend

import (
	"encoding/base64"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestKeysCreatedAtInitializationAndStable(t *testing.T) {
	b, s := getTestBackend(t)
	if kr, _ := readKeyring(t.Context(), s); kr == nil {
		t.Fatal("no keyring after initialization")
	}
	a := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data
	c := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data
	if a["current_key_id"] != c["current_key_id"] {
		t.Fatal("reading keys twice created two keys")
	}
	k := a["keys"].([]map[string]interface{})[0]
	raw, err := base64.StdEncoding.DecodeString(k["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := protocol.ParsePublicKey(protocol.SuiteXWing, raw)
	if err != nil || pk.ID().String() != k["key_id"] || k["current"] != true {
		t.Fatalf("published key does not parse to its key_id: %v %v", k, err)
	}
	for _, field := range []string{"private_key", "PrivateKey"} {
		if _, ok := k[field]; ok {
			t.Fatal("keys endpoint publishes a private key")
		}
	}
}

func TestKeysRotateKeepsPreviousKeys(t *testing.T) {
	b, s := getTestBackend(t)
	k1 := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]
	k2 := mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil).Data["current_key_id"]
	k3 := mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil).Data["current_key_id"]
	if k1 == k2 || k2 == k3 {
		t.Fatal("rotate did not create a new key")
	}
	list := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data["keys"].([]map[string]interface{})
	if len(list) != 3 || list[0]["key_id"] != k3 || list[1]["key_id"] != k2 {
		t.Fatalf("keyring after two rotations = %v", list)
	}
	if list[2]["key_id"] != k1 {
		t.Fatalf("the first key, in its grace period, dropped: %v", list)
	}
}

func TestParsedKeyCacheForgetsDroppedKeys(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	for range 4 {
		c := enroll(t, b, s, "web", nil)
		mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
		mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	}
	c := enroll(t, b, s, "web", nil)
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	n := 0
	b.parsedKeys.Range(func(any, any) bool { n++; return true })
	if n > maxKeys {
		t.Fatalf("%d parsed keys cached, at most %d are in the keyring", n, maxKeys)
	}
}
