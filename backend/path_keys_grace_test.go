package backend

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
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
