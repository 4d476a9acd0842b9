package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Besides the entropy plugin, a run may mount two more plugins on the same
// server: the floor (cmd/vault-plugin-auth-floor, the least an external
// auth plugin can do per login), and a baseline build of the entropy
// plugin at a fixed commit, whose rotation throughput the run compares
// with the current build's.
const (
	FloorPlugin    = "vault-plugin-auth-floor"
	floorMount     = "floor"
	BaselinePlugin = "vault-plugin-auth-entropy-baseline"
	baselineMount  = "entropy-baseline"
)

// ExtraPlugin is a plugin binary to register in the catalog under Name and
// enable at auth/Mount.
type ExtraPlugin struct {
	Name, Bin, Mount string
}

// registerPlugin copies p's binary into the server's plugin directory
// (DIR/plugins, scripts/vault-server.sh), registers it by its sha256 and
// the version it prints for -version, and enables it at auth/<p.Mount>.
func registerPlugin(ctx context.Context, vc *api.Client, dir string, p ExtraPlugin) error {
	version, err := exec.CommandContext(ctx, p.Bin, "-version").Output()
	if err != nil {
		return fmt.Errorf("%s -version: %w", p.Bin, err)
	}
	dst := filepath.Join(dir, "plugins", p.Name)
	sum, err := copyExecutable(p.Bin, dst)
	if err != nil {
		return err
	}
	v := strings.TrimSpace(string(version))
	if err := vc.Sys().RegisterPluginWithContext(ctx, &api.RegisterPluginInput{
		Name: p.Name, Type: api.PluginTypeCredential, Command: p.Name, SHA256: sum, Version: v,
	}); err != nil {
		return fmt.Errorf("registering %s: %w", p.Name, err)
	}
	if err := vc.Sys().EnableAuthWithOptionsWithContext(ctx, p.Mount, &api.EnableAuthOptions{
		Type: p.Name, Config: api.MountConfigInput{PluginVersion: v},
	}); err != nil {
		return fmt.Errorf("enabling %s at auth/%s: %w", p.Name, p.Mount, err)
	}
	return nil
}

// copyExecutable copies src to dst (mode 0755, through a temporary file)
// and returns the copy's sha256 in hex.
func copyExecutable(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BuildFloor builds the floor plugin from this repository's testing module
// into dir and returns its path.
func BuildFloor(ctx context.Context, repo, dir string) (string, error) {
	out := filepath.Join(dir, FloorPlugin)
	cmd := exec.CommandContext(ctx, "go", "-C", filepath.Join(repo, "testing"), "build", "-trimpath", "-o", out, "./load/cmd/"+FloorPlugin)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", FloorPlugin, err, b)
	}
	return out, nil
}

// Floor is the floor plugin built at bin, to mount at auth/floor.
func Floor(bin string) ExtraPlugin {
	return ExtraPlugin{Name: FloorPlugin, Bin: bin, Mount: floorMount}
}

// Baseline is the entropy plugin built at a fixed commit (bin), to mount at
// auth/entropy-baseline.
func Baseline(bin string) ExtraPlugin {
	return ExtraPlugin{Name: BaselinePlugin, Bin: bin, Mount: baselineMount}
}

// floorBodies returns one floor login body per worker: each its own alias,
// as each entropy worker has its own client (and so its own entity).
func floorBodies(token, ttl string, workers int) [][]byte {
	out := make([][]byte, workers)
	for w := range out {
		out[w], _ = json.Marshal(map[string]string{"name": fmt.Sprintf("floor-%d", w), "token_type": token, "ttl": ttl})
	}
	return out
}
