package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestClientLockUnlock(t *testing.T) {
	b, s, logs := getLoggedTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	d := readClientData(t, b, s, "web", "a")
	checkFields(t, d, map[string]interface{}{
		"locked": false, "locked_at": "", "locked_until": "", "lock_reason": "", "failed_logins": 0, "locked_sources": 0,
		"pending_generation": uint64(0), "superseded_generation": uint64(0), "rotate_requested": false, "rotation_due": false,
	})
	if d["generation_created_at"] == "" {
		t.Fatal("no generation_created_at")
	}

	// Until unlocked, with the default reason.
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/a/lock", nil)
	d = readClientData(t, b, s, "web", "a")
	checkFields(t, d, map[string]interface{}{"locked": true, "locked_until": "", "lock_reason": defaultLockReason})
	if d["locked_at"] == "" {
		t.Fatal("no locked_at")
	}
	if _, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t)); err != logical.ErrPermissionDenied {
		t.Fatalf("locked client logged in: %v", err)
	}
	if !strings.Contains(logs.String(), "client locked by an operator") {
		t.Fatal("lock not logged")
	}

	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/a/unlock", nil)
	checkFields(t, readClientData(t, b, s, "web", "a"), map[string]interface{}{
		"locked": false, "locked_at": "", "locked_until": "", "lock_reason": "",
	})
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	if !strings.Contains(logs.String(), "client unlocked by an operator") {
		t.Fatal("unlock not logged")
	}
	// Neither the lock nor its log line names entropy.
	if strings.Contains(logs.String(), string(c.entropy[:16])) {
		t.Fatal("entropy in the log")
	}
}

func TestClientLockForADuration(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/a/lock", map[string]interface{}{
		"duration": "10m", "reason": "investigating ticket #42",
	})
	d := readClientData(t, b, s, "web", "a")
	want := clock.now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	checkFields(t, d, map[string]interface{}{"locked": true, "locked_until": want, "lock_reason": "investigating ticket #42"})

	clock.advance(10 * time.Minute)
	d = readClientData(t, b, s, "web", "a")
	// The lock has run out; its record stays until a login or unlock.
	checkFields(t, d, map[string]interface{}{"locked": false, "locked_until": want})
}

func TestClientLockRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		path string
		data map[string]interface{}
	}{
		"missing client":          {"role/web/client/nope/lock", nil},
		"missing role":            {"role/nope/client/a/lock", nil},
		"bad client name":         {"role/web/client/A/lock", nil},
		"bad role name":           {"role/WEB/client/a/lock", nil},
		"negative duration":       {"role/web/client/a/lock", map[string]interface{}{"duration": -5}},
		"duration not a duration": {"role/web/client/a/lock", map[string]interface{}{"duration": "a while"}},
		"reason too long":         {"role/web/client/a/lock", map[string]interface{}{"reason": strings.Repeat("x", maxLockReason+1)}},
		"reason with a newline":   {"role/web/client/a/lock", map[string]interface{}{"reason": "a\nlogin accepted: role=web"}},
		"reason with an escape":   {"role/web/client/a/lock", map[string]interface{}{"reason": "\x1b[31mred"}},
		"reason not utf-8":        {"role/web/client/a/lock", map[string]interface{}{"reason": "\xff\xfe"}},
		"unlock missing client":   {"role/web/client/nope/unlock", nil},
		"unlock bad client name":  {"role/web/client/-a/unlock", nil},
		"unlock missing role":     {"role/nope/client/a/unlock", nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
			enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
			mustFail(t, b, s, logical.UpdateOperation, tc.path, tc.data)
		})
	}
}
