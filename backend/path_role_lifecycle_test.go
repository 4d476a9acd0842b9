package backend

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleLifecycleFields(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	defaults := map[string]interface{}{
		"rotation_period":       int64(3600),
		"clone_action":          "lock",
		"lockout_threshold":     5,
		"lockout_duration":      int64(900),
		"lockout_counter_reset": int64(900),
		"challenge_required":    false,
	}
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data, defaults)
	// Defaults are stored on create, not only shown.
	r, err := b.role(context.Background(), s, "web")
	if err != nil || r.RotationPeriod != time.Hour || r.CloneAction != cloneActionLock || r.LockoutThreshold != 5 ||
		r.LockoutDuration != 15*time.Minute || r.LockoutCounterReset != 15*time.Minute || r.ChallengeRequired {
		t.Fatalf("stored role %+v %v", r, err)
	}

	set := map[string]interface{}{
		"rotation_period":       int64(1),
		"clone_action":          "log",
		"lockout_threshold":     0,
		"lockout_duration":      int64(60),
		"lockout_counter_reset": int64(7200),
		"challenge_required":    true,
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{
		"rotation_period":       "1s",
		"clone_action":          "log",
		"lockout_threshold":     0,
		"lockout_duration":      "1m",
		"lockout_counter_reset": "2h",
		"challenge_required":    true,
	})
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data, set)

	// An update of another field keeps them, and keeps the defaults from
	// coming back.
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "x"})
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data, set)

}

func TestRoleLifecycleFieldsRejectBadInput(t *testing.T) {
	cases := map[string]map[string]interface{}{
		"rotation period zero":       {"rotation_period": 0},
		"rotation period sub-second": {"rotation_period": "500ms"},
		"rotation period negative":   {"rotation_period": -1},
		"rotation period not a time": {"rotation_period": "often"},
		"clone action unknown":       {"clone_action": "shrug"},
		"clone action empty":         {"clone_action": ""},
		"clone action upper-case":    {"clone_action": "LOCK"},
		"threshold negative":         {"lockout_threshold": -1},
		"threshold not a number":     {"lockout_threshold": "five"},
		"lockout duration zero":      {"lockout_duration": 0},
		"lockout duration negative":  {"lockout_duration": -60},
		"counter reset zero":         {"lockout_counter_reset": 0},
		"counter reset not a time":   {"lockout_counter_reset": "soon"},
		"challenge not a bool":       {"challenge_required": "maybe"},
	}
	for name, data := range cases {
		t.Run("create/"+name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustFail(t, b, s, logical.UpdateOperation, "role/web", data)
		})
		t.Run("update/"+name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
			mustFail(t, b, s, logical.UpdateOperation, "role/web", data)
		})
	}
}

func checkFields(t *testing.T, got, want map[string]interface{}) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}
