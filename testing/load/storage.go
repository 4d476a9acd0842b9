package load

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
)

// mountUUID is the storage UUID of auth/mount: its keys live under
// auth/<uuid>/ in Vault's barrier.
func mountUUID(ctx context.Context, vc *api.Client, mount string) (string, error) {
	auths, err := vc.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return "", err
	}
	m, ok := auths[strings.TrimSuffix(strings.TrimPrefix(mount, "auth/"), "/")+"/"]
	if !ok || m.UUID == "" {
		return "", fmt.Errorf("no auth mount %s", mount)
	}
	return m.UUID, nil
}

// errNoRaw: the server does not expose sys/raw (raw_storage_endpoint).
var errNoRaw = errors.New("sys/raw is not enabled on this server")

// mountKeys counts the mount's storage keys by their first path segment
// (role/, client/, entropy/, nonce/, ...), listing sys/raw recursively. It
// needs raw_storage_endpoint (scripts/vault-server.sh with
// VAULT_RAW_STORAGE=1). Use it on small mounts: it lists every key.
func mountKeys(ctx context.Context, vc *api.Client, mount string) (map[string]int, error) {
	uuid, err := mountUUID(ctx, vc, mount)
	if err != nil {
		return nil, err
	}
	base := "sys/raw/auth/" + uuid + "/"
	counts := map[string]int{}
	var walk func(prefix string) error
	walk = func(prefix string) error {
		s, err := vc.Logical().ListWithContext(ctx, base+prefix)
		if err != nil {
			var re *api.ResponseError
			if errors.As(err, &re) && (re.StatusCode == 404 || re.StatusCode == 405) {
				return errNoRaw
			}
			return err
		}
		if s == nil || s.Data == nil {
			return nil
		}
		keys, _ := s.Data["keys"].([]interface{})
		for _, k := range keys {
			name, _ := k.(string)
			if strings.HasSuffix(name, "/") {
				if err := walk(prefix + name); err != nil {
					return err
				}
				continue
			}
			top, _, found := strings.Cut(prefix+name, "/")
			if !found {
				top = "(top)"
			}
			counts[top]++
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return counts, nil
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
