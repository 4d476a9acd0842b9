package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestConfigDefaultsAndUpdate(t *testing.T) {
	b, s := getTestBackend(t)
	resp := mustOK(t, b, s, logical.ReadOperation, "config", nil)
	want := map[string]interface{}{
		"key_suite":             protocol.SuiteXWing.String(),
		"key_rotation_period":   int64(86400),
		"allowed_clock_skew":    int64(60),
		"default_sample_count":  320,
		"default_sample_length": 8,
	}
	for k, v := range want {
		if resp.Data[k] != v {
			t.Errorf("default %s = %#v, want %#v", k, resp.Data[k], v)
		}
	}

	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{
		"allowed_clock_skew":    "2m",
		"key_rotation_period":   "24h",
		"default_sample_count":  64,
		"default_sample_length": 16,
	})
	resp = mustOK(t, b, s, logical.ReadOperation, "config", nil)
	if resp.Data["allowed_clock_skew"] != int64(120) || resp.Data["key_rotation_period"] != int64(86400) ||
		resp.Data["default_sample_count"] != 64 || resp.Data["default_sample_length"] != 16 {
		t.Fatalf("config after update = %v", resp.Data)
	}
	// Fields not sent keep their values.
	if resp.Data["key_suite"] != protocol.SuiteXWing.String() {
		t.Fatalf("key_suite changed: %v", resp.Data["key_suite"])
	}
}

func TestConfigRejectsBadInput(t *testing.T) {
	cases := map[string]map[string]interface{}{
		"unknown suite":      {"key_suite": "aes-cbc"},
		"skew zero":          {"allowed_clock_skew": 0},
		"skew too large":     {"allowed_clock_skew": "11m"},
		"skew not duration":  {"allowed_clock_skew": "soon"},
		"negative rotation":  {"key_rotation_period": -5},
		"count zero":         {"default_sample_count": 0},
		"count too large":    {"default_sample_count": protocol.MaxRangeCount + 1},
		"count not a number": {"default_sample_count": "many"},
		"length too large":   {"default_sample_length": protocol.MaxRangeLength + 1},
		"too few bytes":      {"default_sample_count": 1, "default_sample_length": 8},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustFail(t, b, s, logical.UpdateOperation, "config", data)
		})
	}
}

func TestConfigSuiteChangeRotatesKey(t *testing.T) {
	b, s := getTestBackend(t)
	first := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": protocol.SuiteP256.String()})
	keys := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data
	list := keys["keys"].([]map[string]interface{})
	if keys["current_key_id"] == first || list[0]["suite"] != protocol.SuiteP256.String() {
		t.Fatalf("suite change did not make a P-256 key current: %v", keys)
	}
	if list[1]["key_id"] != first {
		t.Fatalf("previous key not retained: %v", list)
	}
	// Writing the same suite again does not rotate.
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": protocol.SuiteP256.String()})
	if again := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]; again != keys["current_key_id"] {
		t.Fatal("unchanged suite rotated the key")
	}
}
