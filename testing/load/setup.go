package load

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// Role names. Each entropy role has an AppRole twin with the same token
// settings.
const (
	roleService = "svc"     // entropy, service tokens
	roleBatch   = "batch"   // entropy, batch tokens
	roleScale   = "scale"   // entropy, entropy_size 4096, batch tokens: the population comparison
	roleRotate  = "rotate"  // entropy, rotation_period 1s: the background rotation population
	roleGarbage = "garbage" // entropy, lockout off: the target of wrong-entropy garbage

	approleMount = "approle"
)

// tokenTypes are the token types every comparison runs with.
var tokenTypes = []string{"service", "batch"}

func entropyRole(token string) string {
	if token == "batch" {
		return roleBatch
	}
	return roleService
}

// approleRole names the AppRole role for a token type and secret_id use.
func approleRole(token string, single bool) string {
	if single {
		return token + "-single"
	}
	return token + "-reused"
}

// setup creates the roles of both methods. Rotation is pushed far out on
// every entropy role but roleRotate, so that no login of a timed phase is
// handed a new generation by accident.
func setup(ctx context.Context, vc *api.Client, mount, ttl, rotateToken string) error {
	auths, err := vc.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return err
	}
	if _, ok := auths[approleMount+"/"]; !ok {
		if err := vc.Sys().EnableAuthWithOptionsWithContext(ctx, approleMount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
			return err
		}
	}
	common := func(token string) map[string]interface{} {
		return map[string]interface{}{"token_type": token, "token_ttl": ttl, "token_max_ttl": ttl, "token_policies": "default"}
	}
	with := func(m map[string]interface{}, kv ...interface{}) map[string]interface{} {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	type write struct {
		path string
		data map[string]interface{}
	}
	writes := []write{
		{mount + "/role/" + roleService, with(common("service"), "rotation_period", "720h")},
		{mount + "/role/" + roleBatch, with(common("batch"), "rotation_period", "720h")},
		{mount + "/role/" + roleScale, with(common("batch"), "rotation_period", "720h", "entropy_size", 4096)},
		{mount + "/role/" + roleRotate, with(common(rotateToken), "rotation_period", "1s")},
		{mount + "/role/" + roleGarbage, with(common("batch"), "rotation_period", "720h", "lockout_threshold", 0)},
	}
	for _, token := range tokenTypes {
		writes = append(writes,
			write{"auth/" + approleMount + "/role/" + approleRole(token, false), with(common(token), "secret_id_num_uses", 0)},
			write{"auth/" + approleMount + "/role/" + approleRole(token, true), with(common(token), "secret_id_num_uses", 1)},
		)
	}
	for _, w := range writes {
		if _, err := vc.Logical().WriteWithContext(ctx, w.path, w.data); err != nil {
			return fmt.Errorf("writing %s: %w", w.path, err)
		}
	}
	return nil
}

// approleBodies returns n login bodies for an AppRole role: secret_ids
// created now (single-use ones are each used once).
func approleBodies(ctx context.Context, vc *api.Client, role string, n, parallel int) ([][]byte, error) {
	s, err := vc.Logical().ReadWithContext(ctx, "auth/"+approleMount+"/role/"+role+"/role-id")
	if err != nil {
		return nil, err
	}
	roleID, _ := s.Data["role_id"].(string)
	out := make([][]byte, n)
	err = forEach(ctx, n, parallel, func(ctx context.Context, i int) error {
		s, err := vc.Logical().WriteWithContext(ctx, "auth/"+approleMount+"/role/"+role+"/secret-id", nil)
		if err == nil && (s == nil || s.Data["secret_id"] == nil) {
			err = fmt.Errorf("no secret_id")
		}
		if err != nil {
			return fmt.Errorf("creating a secret_id of %s: %w", role, err)
		}
		out[i], _ = json.Marshal(map[string]interface{}{"role_id": roleID, "secret_id": s.Data["secret_id"]})
		return nil
	})
	return out, err
}
