package terraform

// Helpers of TestReplay (replay_test.go): destroying, installing and replaying
// the example's resources against Vault, the workload's login and checks.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// destroyResource sends what the provider sends to delete the resource.
func destroyResource(t *testing.T, ctx context.Context, c *api.Client, r *hclsyntax.Block, resolve *resolver) {
	t.Helper()
	str := func(name string) string { return stringAttr(t, r, name, resolve) }
	var err error
	switch r.Labels[0] {
	case "vault_generic_endpoint":
		// genericEndpointResourceDelete (disable_delete is not set).
		_, err = c.Logical().DeleteWithContext(ctx, str("path"))
	case "vault_auth_backend":
		// authBackendDelete.
		err = c.Sys().DisableAuthWithContext(ctx, str("path"))
	case "vault_plugin_pinned_version":
		// pluginPinnedVersionDelete.
		_, err = c.Logical().DeleteWithContext(ctx, fmt.Sprintf("sys/plugins/pins/%s/%s", str("type"), str("name")))
	case "vault_plugin":
		// pluginDelete.
		pt, perr := api.ParsePluginType(str("type"))
		if perr != nil {
			t.Fatal(perr)
		}
		err = c.Sys().DeregisterPluginWithContext(ctx, &api.DeregisterPluginInput{Type: pt, Name: str("name"), Version: str("version")})
	case "vault_policy":
		// policyDelete.
		err = c.Sys().DeletePolicyWithContext(ctx, str("name"))
	case "vault_mount":
		// mountDelete.
		err = c.Sys().UnmountWithContext(ctx, str("path"))
	default:
		t.Fatalf("%s: no destroy replay for %s", pos(r.TypeRange), r.Labels[0])
	}
	if err != nil {
		t.Errorf("destroying %s: %v", resourceKey(r), err)
		return
	}
	if left := stillThere(t, ctx, c, r, str); left != "" {
		t.Errorf("after destroying %s: %s", resourceKey(r), left)
	}
}

// stillThere says what is left of a destroyed resource, or "".
func stillThere(t *testing.T, ctx context.Context, c *api.Client, r *hclsyntax.Block, str func(string) string) string {
	t.Helper()
	switch r.Labels[0] {
	case "vault_generic_endpoint":
		if got, err := c.Logical().ReadWithContext(ctx, str("path")); err != nil || got != nil {
			return fmt.Sprintf("%s still reads (%v)", str("path"), err)
		}
	case "vault_auth_backend":
		if m, err := c.Sys().ListAuthWithContext(ctx); err != nil || m[str("path")+"/"] != nil {
			return fmt.Sprintf("auth/%s is still enabled (%v)", str("path"), err)
		}
	case "vault_plugin_pinned_version":
		if got, err := c.Logical().ReadWithContext(ctx, fmt.Sprintf("sys/plugins/pins/%s/%s", str("type"), str("name"))); err != nil || got != nil {
			return fmt.Sprintf("the pin is still there (%v)", err)
		}
	case "vault_plugin":
		pt, _ := api.ParsePluginType(str("type"))
		_, err := c.Sys().GetPluginWithContext(ctx, &api.GetPluginInput{Type: pt, Name: str("name"), Version: str("version")})
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
			return fmt.Sprintf("the catalog entry is still there (%v)", err)
		}
	case "vault_policy":
		if p, err := c.Sys().GetPolicyWithContext(ctx, str("name")); err != nil || p != "" {
			return fmt.Sprintf("policy %s is still there (%v)", str("name"), err)
		}
	case "vault_mount":
		if m, err := c.Sys().ListMountsWithContext(ctx); err != nil || m[str("path")+"/"] != nil {
			return fmt.Sprintf("%s/ is still mounted (%v)", str("path"), err)
		}
	}
	return ""
}

// onlyBlock returns the one nested block of typ in b.
func onlyBlock(t *testing.T, b *hclsyntax.Block, typ string) *hclsyntax.Block {
	t.Helper()
	blocks := blocksOf(b.Body, typ)
	if len(blocks) != 1 {
		t.Fatalf("%s: want one %s block in %s, found %d", pos(b.TypeRange), typ, b.Type, len(blocks))
	}
	return blocks[0]
}

// clientGenerations reads the client's current and pending generations.
func clientGenerations(t *testing.T, s *harness.Server, role, clientID string) (gen, pending int64) {
	t.Helper()
	c, err := s.Client.Logical().Read(fmt.Sprintf("auth/entropy/role/%s/client/%s", role, clientID))
	if err != nil || c == nil {
		t.Fatalf("reading the client: %v", err)
	}
	num := func(k string) int64 {
		n, ok := c.Data[k].(json.Number)
		if !ok {
			return 0
		}
		v, _ := n.Int64()
		return v
	}
	return num("generation"), num("pending_generation")
}

// startAgent runs `vault-entropy agent -state=STATE -sink=SINK` until the
// test ends and waits for its first token in the sink.
func startAgent(t *testing.T, s *harness.Server, state, sink string) {
	t.Helper()
	_, cli := harness.Binaries(t)
	cmd := exec.Command(cli, "agent", "-state="+state, "-sink="+sink)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN=")
	// The agent logs one line per event and never a token.
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM to the process this test started, by its pid.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("vault-entropy agent did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("vault-entropy agent did not stop within 10 s of SIGTERM\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(sink); err == nil && st.Size() > 0 {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("vault-entropy agent exited before writing its sink: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault-entropy agent wrote no token to its sink within 20 s\n%s", logs.String())
		}
	}
}

// installPlugin puts the plugin binary into the server's plugin directory
// under the example's command name, and returns the operator variables as
// an operator would set them: plugin_version from `-version`,
// plugin_sha256 from sha256sum.
func installPlugin(t *testing.T, s *harness.Server, op *hclModule) map[string]interface{} {
	t.Helper()
	plugin, _ := harness.Binaries(t)
	blk := op.all("resource")
	var command string
	for _, r := range blk {
		if r.Labels[0] == "vault_plugin" {
			command = stringAttr(t, r, "command", op.resolver(nil))
		}
	}
	if command == "" || strings.Contains(command, "/") {
		t.Fatalf("vault_plugin command %q: want a file name in plugin_directory", command)
	}
	b, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(s.Dir, "plugins", command)
	if err := os.WriteFile(dst+".tmp", b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	out, err := runOutput(plugin, "-version")
	if err != nil {
		t.Fatalf("%s -version: %v", plugin, err)
	}
	return map[string]interface{}{
		"plugin_version": strings.TrimSpace(out),
		"plugin_sha256":  hex.EncodeToString(sum[:]),
	}
}

// replayResource sends what the provider sends to create the resource and
// to read it back, and checks that the read shows no drift.
func replayResource(t *testing.T, ctx context.Context, c *api.Client, op *hclModule, r *hclsyntax.Block, resolve *resolver) {
	str := func(name string) string { return stringAttr(t, r, name, resolve) }
	optStr := func(name string) string {
		if r.Body.Attributes[name] == nil {
			return ""
		}
		return str(name)
	}
	switch r.Labels[0] {
	case "vault_mount":
		// vault/resource_mount.go: mountWrite (createMount), then readMount.
		opts := map[string]string{}
		if a := r.Body.Attributes["options"]; a != nil {
			v, err := eval(a.Expr, resolve)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := v.(map[string]interface{})
			if !ok {
				t.Fatalf("%s: options must be a map", pos(a.SrcRange))
			}
			for k, v := range m {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("%s: options.%s must be a string (the provider's map of strings)", pos(a.SrcRange), k)
				}
				opts[k] = s
			}
		}
		path := str("path")
		vaultVersion(t, ctx, c) // IsAPISupported(1.16) && IsEnterpriseSupported
		err := c.Sys().MountWithContext(ctx, path, &api.MountInput{
			Type:        str("type"),
			Description: optStr("description"),
			Config: api.MountConfigInput{
				DefaultLeaseTTL: "0s",
				MaxLeaseTTL:     "0s",
				ForceNoCache:    false,
			},
			Local:                 false,
			Options:               opts,
			SealWrap:              false,
			ExternalEntropyAccess: false,
		})
		if err != nil {
			t.Fatalf("mount %s: %v", path, err)
		}
		m, err := c.Sys().GetMountWithContext(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != str("type") || !reflect.DeepEqual(m.Options, opts) || m.Description != optStr("description") {
			t.Errorf("read back type %q options %v description %q: drift from the configuration", m.Type, m.Options, m.Description)
		}

	case "vault_plugin":
		// vault/resource_plugin.go: pluginWrite (versionedPluginsSupported,
		// RegisterPlugin), then pluginRead (GetPlugin).
		typ, name, ver := str("type"), str("name"), str("version")
		if v := vaultVersion(t, ctx, c); !atLeast(v, 1, 12) {
			t.Fatalf("Vault %s: versioned plugins need 1.12", v)
		}
		pt, err := api.ParsePluginType(typ)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Sys().RegisterPluginWithContext(ctx, &api.RegisterPluginInput{
			Type:    pt,
			Name:    name,
			Version: ver,
			SHA256:  str("sha256"),
			Command: str("command"),
		})
		if err != nil {
			t.Fatalf("registering the plugin: %v", err)
		}
		got, err := c.Sys().GetPluginWithContext(ctx, &api.GetPluginInput{Type: pt, Name: name, Version: ver})
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != str("sha256") || got.Command != str("command") || got.Version != ver {
			t.Errorf("read back sha256 %s command %q version %q: drift from the configuration", got.SHA256, got.Command, got.Version)
		}

	case "vault_plugin_pinned_version":
		// vault/resource_plugin_pinned_version.go: MountCreateContextWrapper
		// (Vault 1.16), pluginPinnedVersionWrite, pluginPinnedVersionRead.
		if v := vaultVersion(t, ctx, c); !atLeast(v, 1, 16) {
			t.Fatalf("Vault %s: pinned versions need 1.16", v)
		}
		path := fmt.Sprintf("sys/plugins/pins/%s/%s", str("type"), str("name"))
		if _, err := c.Logical().WriteWithContext(ctx, path, map[string]interface{}{"version": str("version")}); err != nil {
			t.Fatalf("pinning: %v", err)
		}
		got, err := c.Logical().ReadWithContext(ctx, path)
		if err != nil || got == nil {
			t.Fatalf("reading the pin: %v", err)
		}
		if got.Data["version"] != str("version") {
			t.Errorf("read back pinned version %v, want %s", got.Data["version"], str("version"))
		}

	case "vault_auth_backend":
		// vault/resource_auth_backend.go: authBackendWrite, authBackendUpdate
		// (nothing to tune on a new mount), authBackendRead (GetAuth, tune).
		path := optStr("path")
		if path == "" {
			path = str("type")
		}
		vaultVersion(t, ctx, c) // IsAPISupported(1.17) && IsEnterpriseSupported
		err := c.Sys().EnableAuthWithOptionsWithContext(ctx, path, &api.EnableAuthOptions{
			Type:        str("type"),
			Description: optStr("description"),
			Local:       false,
			Config:      api.MountConfigInput{},
		})
		if err != nil {
			t.Fatalf("enabling auth/%s: %v", path, err)
		}
		m, err := c.Sys().GetAuthWithContext(ctx, path)
		if err != nil || m == nil {
			t.Fatalf("reading auth/%s: %v", path, err)
		}
		if _, err := c.Sys().MountConfigWithContext(ctx, "auth/"+path); err != nil {
			t.Fatalf("reading auth/%s's tune: %v", path, err)
		}
		if m.Type != str("type") || m.Description != optStr("description") {
			t.Errorf("read back type %q description %q: drift from the configuration", m.Type, m.Description)
		}
		// No plugin_version is sent (the resource has no such argument): the
		// mount must run the version the example registers and pins.
		want := registeredVersion(t, op, str("type"), resolve)
		if m.RunningVersion != want || pinnedVersion(t, ctx, c, str("type")) != want {
			t.Errorf("auth/%s runs plugin version %q (plugin_version %q, pinned %q); the example registers %q",
				path, m.RunningVersion, m.PluginVersion, pinnedVersion(t, ctx, c, str("type")), want)
		}

	case "vault_policy":
		// vault/resource_policy.go: policyCreate (GetPolicy), policyWrite
		// (PutPolicy), policyRead (GetPolicy).
		name, policy := str("name"), str("policy")
		if _, err := c.Sys().GetPolicyWithContext(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := c.Sys().PutPolicyWithContext(ctx, name, policy); err != nil {
			t.Fatalf("writing policy %s: %v", name, err)
		}
		got, err := c.Sys().GetPolicyWithContext(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got != policy {
			t.Errorf("policy %s reads back changed: drift on every plan", name)
		}

	case "vault_generic_endpoint":
		// vault/resource_generic_endpoint.go: genericEndpointResourceWrite
		// (data_json decoded, written), genericEndpointResourceRead.
		path, dataJSON := str("path"), str("data_json")
		ignoreAbsent := false
		if a := r.Body.Attributes["ignore_absent_fields"]; a != nil {
			v, err := eval(a.Expr, resolve)
			if err != nil {
				t.Fatal(err)
			}
			ignoreAbsent = v == true
		}
		if !ignoreAbsent {
			t.Fatalf("%s: the replay covers ignore_absent_fields = true only", pos(r.TypeRange))
		}
		drift := writeGenericEndpoint(t, ctx, c, path, dataJSON)
		if drift != "" {
			t.Errorf("%s: %s", pos(r.TypeRange), drift)
		}
		// The check above can fail: a duration written as "30m" is accepted
		// but read back in seconds, a change on every plan.
		var data map[string]interface{}
		if err := json.Unmarshal([]byte(dataJSON), &data); err != nil {
			t.Fatal(err)
		}
		if _, ok := data["token_ttl"]; ok {
			data["token_ttl"] = "30m"
			variant, _ := json.Marshal(data)
			if writeGenericEndpoint(t, ctx, c, path, string(variant)) == "" {
				t.Error(`token_ttl = "30m" shows no drift: the drift check cannot fail`)
			}
			if d := writeGenericEndpoint(t, ctx, c, path, dataJSON); d != "" {
				t.Errorf("after writing the example again: %s", d)
			}
		}

	default:
		t.Fatalf("%s: no replay for %s", pos(r.TypeRange), r.Labels[0])
	}
}

// writeGenericEndpoint writes data_json and reads the path back as the
// provider does; it returns "" or a description of the drift Terraform
// would show.
func writeGenericEndpoint(t *testing.T, ctx context.Context, c *api.Client, path, dataJSON string) string {
	t.Helper()
	var data map[string]interface{}
	if err := json.Unmarshal([]byte(dataJSON), &data); err != nil {
		t.Fatalf("data_json %#v syntax error: %s", dataJSON, err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, path, data); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	read, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil || read == nil {
		t.Fatalf("reading %s back: %v", path, err)
	}
	config, err := normalizeDataJSON(dataJSON)
	if err != nil {
		t.Fatal(err)
	}
	state, err := genericEndpointReadState(config, read.Data)
	if err != nil {
		t.Fatal(err)
	}
	if state != config {
		return fmt.Sprintf("%s reads back as %s, configured %s: a change on every plan", path, state, config)
	}
	return ""
}

// exampleRoleData is the data_json of the example's one role.
func exampleRoleData(t *testing.T, op *hclModule, vars map[string]interface{}) map[string]interface{} {
	t.Helper()
	for _, r := range op.all("resource") {
		if r.Labels[0] != "vault_generic_endpoint" {
			continue
		}
		var data map[string]interface{}
		if err := json.Unmarshal([]byte(stringAttr(t, r, "data_json", op.resolver(vars))), &data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	t.Fatal("the example has no role")
	return nil
}

// vaultVersion mirrors getVaultVersion (internal/provider/meta.go): the
// version from sys/seal-status, without a namespace.
func vaultVersion(t *testing.T, ctx context.Context, c *api.Client) string {
	t.Helper()
	clone, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	clone.ClearNamespace()
	st, err := clone.Sys().SealStatusWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version == "" {
		t.Fatal("sys/seal-status has no version")
	}
	return st.Version
}

// atLeast reports whether the Vault version v (such as 1.21.0 or
// 1.21.0+ent) is at least major.minor.
func atLeast(v string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// registeredVersion is the version of the example's vault_plugin named
// name.
func registeredVersion(t *testing.T, op *hclModule, name string, resolve *resolver) string {
	t.Helper()
	for _, r := range op.all("resource") {
		if r.Labels[0] == "vault_plugin" && stringAttr(t, r, "name", resolve) == name {
			return stringAttr(t, r, "version", resolve)
		}
	}
	t.Fatalf("the example registers no plugin named %s", name)
	return ""
}

func pinnedVersion(t *testing.T, ctx context.Context, c *api.Client, name string) string {
	t.Helper()
	got, err := c.Logical().ReadWithContext(ctx, "sys/plugins/pins/auth/"+name)
	if err != nil || got == nil {
		return ""
	}
	v, _ := got.Data["version"].(string)
	return v
}

// freshProof runs `vault-entropy proof -format=json`, as the doc's
// TF_VAR_entropy_proof="$(vault-entropy proof)" does.
func freshProof(t *testing.T, s *harness.Server, state string) *client.LoginRequest {
	t.Helper()
	out, err := s.CLI(t, nil, "", "proof", "-state", state, "-format=json")
	if err != nil {
		t.Fatalf("vault-entropy proof: %v", err)
	}
	var lr client.LoginRequest
	if err := json.Unmarshal([]byte(out), &lr); err != nil || lr.Proof == "" {
		t.Fatalf("vault-entropy proof -format=json printed no proof (%v)", err)
	}
	return &lr
}

// stringParams evaluates auth_login's parameters: a map of strings, as the
// provider's schema (TypeMap of TypeString) makes them.
func stringParams(t *testing.T, al *hclsyntax.Block, resolve *resolver) map[string]string {
	t.Helper()
	v, err := eval(al.Body.Attributes["parameters"].Expr, resolve)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		t.Fatalf("%s: parameters is %T, not a map", pos(al.TypeRange), v)
	}
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok || s == "" {
			t.Fatalf("parameter %s is %T, not a non-empty string", k, v)
		}
		out[k] = s
	}
	return out
}

// checkChild checks the child token is what the provider asks for: the
// parent's policies, the provider's TTL, not renewable.
func checkChild(t *testing.T, sess *providerSession, parentPolicies interface{}) {
	t.Helper()
	a := sess.Child.Auth
	if a.Renewable || a.LeaseDuration <= 0 || a.LeaseDuration > providerMaxLeaseTTL {
		t.Errorf("child token: renewable %v, ttl %d s; want not renewable, at most %d s", a.Renewable, a.LeaseDuration, providerMaxLeaseTTL)
	}
	want := toStrings(parentPolicies)
	got := append([]string(nil), a.Policies...)
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("child token policies %v, parent's %v", got, want)
	}
	self, err := sess.Client.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if dn, _ := self.Data["display_name"].(string); !strings.HasSuffix(dn, providerTokenName) {
		t.Errorf("child token display name %q", dn)
	}
}

func toStrings(v interface{}) []string {
	switch v := v.(type) {
	case []string:
		return append([]string(nil), v...)
	case []interface{}:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// applyWorkload replays a workload example's run with the provider's
// client c: the ephemeral "vault_kv_secret_v2" opened (openKVV2Secret), its
// data handed to the resource's data_json_wo and written (writeKVV2Secret),
// then the resource's destroy. admin checks, outside Terraform, that the
// secret read is want and that the write carried it unchanged.
func applyWorkload(t *testing.T, ctx context.Context, c, admin *api.Client, m *hclModule, want map[string]interface{}) {
	t.Helper()
	eph := m.all("ephemeral")
	if len(eph) != 1 || len(eph[0].Labels) != 2 {
		t.Fatalf("%s: want one ephemeral resource, found %d", m.dir, len(eph))
	}
	noVars := m.resolver(nil)
	mount, name := stringAttr(t, eph[0], "mount", noVars), stringAttr(t, eph[0], "name", noVars)
	result, err := openKVV2Secret(ctx, c, mount, name)
	if err != nil {
		t.Fatalf("opening %s: %v", resourceKey(eph[0]), err)
	}
	opened := map[string]interface{}{}
	for k, v := range result.GetAttr("data").AsValueMap() {
		opened[k] = v.AsString()
	}
	if !reflect.DeepEqual(opened, want) {
		t.Errorf("%s/data/%s opens with other data than what was put there", mount, name)
	}

	res := m.all("resource")
	if len(res) != 1 {
		t.Fatalf("%s: want one resource, found %d", m.dir, len(res))
	}
	r := res[0]
	resolve := noVars.withEphemeral(resourceKey(eph[0]), result)
	dstMount, dstName := stringAttr(t, r, "mount", resolve), stringAttr(t, r, "name", resolve)
	secret, err := writeKVV2Secret(ctx, c, dstMount, dstName, stringAttr(t, r, "data_json_wo", resolve))
	if err != nil {
		t.Fatalf("creating %s: %v", resourceKey(r), err)
	}
	if _, ok := secret.Data["metadata"].(map[string]interface{}); !ok {
		t.Errorf("%s: the read after the write has no metadata (the provider keeps it in the state)", resourceKey(r))
	}
	dst := fmt.Sprintf("%s/data/%s", dstMount, dstName)
	got, err := admin.Logical().ReadWithContext(ctx, dst)
	if err != nil || got == nil {
		t.Fatalf("reading %s: %v", dst, err)
	}
	if d, _ := got.Data["data"].(map[string]interface{}); !reflect.DeepEqual(d, want) {
		t.Errorf("%s holds other data than the secret handed on", dst)
	}

	// terraform destroy of the workload: kvSecretV2Delete, a delete of
	// MOUNT/data/NAME (delete_all_versions is not set): the latest version
	// reads as deleted.
	if _, err := c.Logical().DeleteWithContext(ctx, dst); err != nil {
		t.Fatalf("destroying %s: %v", resourceKey(r), err)
	}
	if got, err := admin.Logical().ReadWithContext(ctx, dst); err != nil || got != nil && got.Data["data"] != nil {
		t.Errorf("after destroying %s, %s still reads (%v)", resourceKey(r), dst, err)
	}
}

// wantStatus checks err is a Vault response error with this status and
// that nothing came back with it.
func wantStatus(t *testing.T, what string, got interface{}, err error, status int) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status {
		t.Errorf("%s: got %v, want HTTP %d", what, err, status)
	}
	if got != nil && !reflect.ValueOf(got).IsNil() {
		t.Errorf("%s: a response came back with the error", what)
	}
}

func withVars(base, extra map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runOutput runs a command and returns its stdout.
func runOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}
