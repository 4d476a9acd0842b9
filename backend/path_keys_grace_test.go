package backend

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestConfigKeyGracePeriod(t *testing.T) {
	b, s := getTestBackend(t)
	d := mustOK(t, b, s, logical.ReadOperation, "config", nil).Data
	checkFields(t, d, map[string]interface{}{"key_grace_period": int64(86400), "key_rotation_period": int64(86400)})

	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "1h"})
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "config", nil).Data, map[string]interface{}{"key_grace_period": int64(3600)})
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": 0})
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "config", nil).Data, map[string]interface{}{"key_grace_period": int64(0)})

	for name, data := range map[string]map[string]interface{}{
		"negative grace":       {"key_grace_period": -1},
		"grace not a duration": {"key_grace_period": "a day"},
		"grace with bad skew":  {"key_grace_period": "1h", "allowed_clock_skew": 0},
	} {
		t.Run(name, func(t *testing.T) {
			mustFail(t, b, s, logical.UpdateOperation, "config", data)
		})
	}
}

func TestKeysPublishRetirement(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "2h"})
	d := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data
	if d["grace_period"] != int64(7200) {
		t.Fatalf("grace_period = %v", d["grace_period"])
	}
	k := d["keys"].([]map[string]interface{})[0]
	checkFields(t, k, map[string]interface{}{"retired_at": "", "accepted_until": "", "current": true})

	clock.advance(time.Hour)
	rotatedAt := clock.now().UTC()
	d = mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil).Data
	keys := d["keys"].([]map[string]interface{})
	checkFields(t, keys[0], map[string]interface{}{"retired_at": "", "accepted_until": "", "current": true})
	checkFields(t, keys[1], map[string]interface{}{
		"retired_at":     rotatedAt.Format(time.RFC3339),
		"accepted_until": rotatedAt.Add(2 * time.Hour).Format(time.RFC3339),
		"current":        false,
	})
	if d["grace_period"] != int64(7200) {
		t.Fatalf("keys/rotate grace_period = %v", d["grace_period"])
	}
	// The enrollment bundle's keys stay as they were: clients need no more.
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	bundle := mustOK(t, b, s, logical.UpdateOperation, "role/web/enroll", nil).Data
	if _, ok := bundle["server_keys"].([]map[string]interface{})[1]["accepted_until"]; ok {
		t.Fatal("bundle keys changed shape")
	}
}

// listedKeys reads the keys endpoint and checks the order it promises
// (docs/protocol.md): exactly one current key, first, named by
// current_key_id.
func listedKeys(t *testing.T, b *entropyBackend, s logical.Storage) []map[string]interface{} {
	t.Helper()
	d := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data
	keys := d["keys"].([]map[string]interface{})
	checkKeyOrder(t, keys, d["current_key_id"])
	return keys
}

func checkKeyOrder(t *testing.T, keys []map[string]interface{}, currentID interface{}) {
	t.Helper()
	if len(keys) == 0 || keys[0]["current"] != true || keys[0]["key_id"] != currentID {
		t.Fatalf("first key is not the current one (%v): %v", currentID, keys)
	}
	for _, k := range keys[1:] {
		if k["current"] != false {
			t.Fatalf("more than one current key: %v", keys)
		}
	}
}

// sealedTo is the client with its proofs sealed to a listed key.
func sealedTo(t *testing.T, c *testClient, listed map[string]interface{}) *testClient {
	t.Helper()
	suite, err := protocol.ParseSuite(listed["suite"].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(listed["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := protocol.ParsePublicKey(suite, raw)
	if err != nil {
		t.Fatal(err)
	}
	out := *c
	out.key = pk
	return &out
}

// checkEveryListedKeyOpens logs in with a proof sealed to each listed key.
func checkEveryListedKeyOpens(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient, clock *testClock) []map[string]interface{} {
	t.Helper()
	keys := listedKeys(t, b, s)
	for _, k := range keys {
		resp, err := request(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, sealedTo(t, c, k), clock.now()))
		if err != nil || resp == nil || resp.Auth == nil {
			t.Fatalf("key %v (accepted_until %v) listed but refused: %v %v", k["key_id"], k["accepted_until"], resp, err)
		}
	}
	return keys
}

func checkKeyRefused(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient, clock *testClock, k map[string]interface{}) {
	t.Helper()
	resp, err := request(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, sealedTo(t, c, k), clock.now()))
	if err != nil || resp == nil || !resp.IsError() || resp.Error().Error() != protocol.ErrKeyNotAccepted.Error() {
		t.Fatalf("key %v past its grace: %v %v", k["key_id"], resp, err)
	}
	for _, l := range listedKeys(t, b, s) {
		if l["key_id"] == k["key_id"] {
			t.Fatalf("key %v past its grace still listed", k["key_id"])
		}
	}
}

func TestManualRotationsKeepEveryKeyInGrace(t *testing.T) {
	for _, rotations := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d rotations", rotations), func(t *testing.T) {
			b, s, c := setupLogin(t, nil)
			clock := useClock(b)
			mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "2h"})
			var retiredAt []time.Time
			for range rotations {
				clock.advance(10 * time.Minute)
				retiredAt = append(retiredAt, clock.now())
				mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
			}
			keys := checkEveryListedKeyOpens(t, b, s, c, clock)
			if len(keys) != rotations+1 {
				t.Fatalf("%d keys listed after %d rotations", len(keys), rotations)
			}
			// Each retired key opens proofs until its own grace ends,
			// then not; the oldest is listed last.
			for i := rotations; i >= 1; i-- {
				until := retiredAt[rotations-i].Add(2 * time.Hour)
				if keys[i]["accepted_until"] != until.UTC().Format(time.RFC3339) {
					t.Fatalf("key %d accepted_until %v, want %v", i, keys[i]["accepted_until"], until)
				}
				clock.t = until.Add(-time.Second)
				checkEveryListedKeyOpens(t, b, s, c, clock)
				clock.t = until
				checkKeyRefused(t, b, s, c, clock, keys[i])
			}
			if got := listedKeys(t, b, s); len(got) != 1 || got[0]["key_id"] != keys[0]["key_id"] {
				t.Fatalf("after every grace: %v", got)
			}
		})
	}
}

func TestRotationPeriodShorterThanGrace(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": "1h", "key_grace_period": "150m"})
	// What each key was promised when it was listed.
	promised := map[string]time.Time{}
	for step := range 12 {
		clock.advance(30 * time.Minute)
		periodic(t, b, s)
		keys := checkEveryListedKeyOpens(t, b, s, c, clock)
		if len(keys) > keysInGrace(time.Hour, 150*time.Minute) {
			t.Fatalf("step %d: %d keys", step, len(keys))
		}
		listed := map[string]bool{}
		for _, k := range keys {
			id := k["key_id"].(string)
			listed[id] = true
			if u := k["accepted_until"].(string); u != "" {
				until, err := time.Parse(time.RFC3339, u)
				if err != nil {
					t.Fatal(err)
				}
				if p, ok := promised[id]; ok && !p.Equal(until) {
					t.Fatalf("key %s was promised %v, now %v", id, p, until)
				}
				promised[id] = until
			}
		}
		for id, until := range promised {
			if clock.now().Before(until) && !listed[id] {
				t.Fatalf("step %d: key %s dropped before %v", step, id, until)
			}
		}
	}
}

func TestKeyringCapIsKeptByRefusing(t *testing.T) {
	for _, help := range []string{pathKeysRotateHelpDesc, pathConfigHelpDesc} {
		if !strings.Contains(help, fmt.Sprintf("at most %d keys", maxKeys)) {
			t.Fatalf("help does not give the cap of %d keys:\n%s", maxKeys, help)
		}
	}
	t.Run("config whose grace spans too many rotations", func(t *testing.T) {
		b, s := getTestBackend(t)
		for _, data := range []map[string]interface{}{
			{"key_rotation_period": "1m"},
			{"key_rotation_period": "1h", "key_grace_period": fmt.Sprintf("%dh", maxKeys)},
		} {
			resp, err := request(t, b, s, logical.UpdateOperation, "config", data)
			if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "lengthen key_rotation_period or shorten key_grace_period") {
				t.Fatalf("%v: %v %v", data, resp, err)
			}
			mustFail(t, b, s, logical.UpdateOperation, "config", data)
		}
		// The largest that fits, and no automatic rotation at all.
		mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": "1h", "key_grace_period": fmt.Sprintf("%dh", maxKeys-1)})
		mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": 0, "key_grace_period": "8760h"})
	})

	t.Run("rotation into a full keyring", func(t *testing.T) {
		b, s, c := setupLogin(t, nil)
		clock := useClock(b)
		mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": 0})
		first := clock.now()
		for range maxKeys - 1 {
			clock.advance(time.Second)
			mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
		}
		full := storageSnapshot(t, s)
		resp, err := request(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
		if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "accepted until") {
			t.Fatalf("rotation into a full keyring: %v %v", resp, err)
		}
		mustFail(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": protocol.SuiteP256.String()})
		// Nor does the periodic function drop a key to make room.
		mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": "1h"})
		clock.advance(2 * time.Hour)
		periodic(t, b, s)
		if kr := currentKey(t, s); len(kr.Keys) != maxKeys || kr.Keys[0].ID != keyIDs(full)[0] {
			t.Fatal("periodic rotated a full keyring")
		}
		keys := checkEveryListedKeyOpens(t, b, s, c, clock)
		// Room again once the oldest key's grace is over.
		clock.t = first.Add(time.Second + defaultKeyGrace)
		checkKeyRefused(t, b, s, c, clock, keys[len(keys)-1])
		mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	})
}

// keyIDs is the key IDs of the keyring in a storage snapshot.
func keyIDs(snap map[string]string) []string {
	kr := &keyring{}
	if err := json.Unmarshal([]byte(snap[keyringStorageKey]), kr); err != nil {
		panic(err)
	}
	var ids []string
	for _, k := range kr.Keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func TestKeyOrderEverywhere(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	for range 3 {
		d := mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil).Data
		checkKeyOrder(t, d["keys"].([]map[string]interface{}), d["current_key_id"])
		keys := listedKeys(t, b, s)
		bundle := mustOK(t, b, s, logical.UpdateOperation, "role/web/enroll", nil).Data["server_keys"].([]map[string]interface{})
		checkKeyOrder(t, bundle, keys[0]["key_id"])
		// A receipt's keys, to a client that sealed to an older key.
		proof, session, err := protocol.NewProof(protocol.ProofInput{
			ServerKey: c.key, Role: c.role, ClientID: c.id, Generation: c.generation,
			Entropy: c.entropy, Sampling: c.sampling, IssuedAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		resp := mustOK(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": c.role, "client_id": c.id, "proof": proof})
		r, err := session.OpenReceipt(resp.Data["receipt"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.ServerKeys) != len(keys) {
			t.Fatalf("receipt keys %+v, listed %v", r.ServerKeys, keys)
		}
		for i, k := range r.ServerKeys {
			if k.KeyID != keys[i]["key_id"] || k.Current != (i == 0) {
				t.Fatalf("receipt keys %+v, listed %v", r.ServerKeys, keys)
			}
		}
	}
}
