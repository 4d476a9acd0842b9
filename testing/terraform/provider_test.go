package terraform

// What the Terraform Vault provider sends, request by request, mirrored with
// the same vault/api calls it makes (the provider and this module both use
// github.com/hashicorp/vault/api v1.23.0). Each function names the provider
// code it mirrors: hashicorp/terraform-provider-vault at tag v5.11.0
// (fcb48e97776faec650b949676f2281d916e6e6d8). This project's test machines
// reach no Terraform registry and cannot download the provider (users of
// the examples do: they target real Terraform and OpenTofu), so these
// mirrors are what the replay runs.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/zclconf/go-cty/cty"
)

// providerMaxLeaseTTL is the provider's default max_lease_ttl_seconds
// (TERRAFORM_VAULT_MAX_TTL): the child token's TTL and explicit max TTL.
const providerMaxLeaseTTL = 1200

// providerTokenName is the provider's default token_name (VAULT_TOKEN_NAME).
const providerTokenName = "terraform"

// newClient is a vault/api client for addr with token ("" for none) and
// no namespace, whatever VAULT_TOKEN or VAULT_NAMESPACE the test process
// has.
func newClient(addr, token string) (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	conf.Address = addr
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	c.ClearNamespace()
	if token != "" {
		c.SetToken(token)
	}
	return c, nil
}

// authLogin mirrors AuthLoginGeneric.Login and AuthLoginCommon.login
// (internal/provider/auth_generic.go, auth.go): a client without a token
// writes the auth_login parameters, all strings, to the auth_login path.
// The namespace and use_root_namespace fields are removed from the body
// first; they only choose the namespace of the request.
func authLogin(ctx context.Context, addr, path string, params map[string]string) (*api.Secret, error) {
	c, err := newClient(addr, "")
	if err != nil {
		return nil, err
	}
	if c.Token() != "" {
		return nil, errors.New("vault login client has a token set")
	}
	body := make(map[string]interface{}, len(params))
	for k, v := range params {
		if k == "namespace" || k == "use_root_namespace" {
			continue
		}
		body[k] = v
	}
	return c.Logical().WriteWithContext(ctx, path, body)
}

// readTokenFile mirrors AuthLoginTokenFile.readTokenFile
// (internal/provider/auth_token_file.go): a regular file, no access for
// group or others, at most one line (bufio.Scanner, so a trailing newline
// is allowed), not empty.
func readTokenFile(filename string) (string, error) {
	fh, err := os.Open(filename)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return "", err
	}
	mode := st.Mode()
	if !mode.IsRegular() {
		return "", fmt.Errorf("token path %q is not regular file", filename)
	}
	if mode.Perm()&0o077 != 0 {
		return "", fmt.Errorf("token path %q has an invalid mode %v", filename, mode.Perm())
	}
	var lines []string
	s := bufio.NewScanner(fh)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 1 {
			return "", fmt.Errorf("token path %q contains more than one line", filename)
		}
	}
	var token string
	if len(lines) == 1 {
		token = strings.TrimSuffix(lines[0], "\n")
	}
	if token == "" {
		return "", fmt.Errorf("no token found in %q", filename)
	}
	return token, nil
}

// authLoginTokenFile mirrors AuthLoginTokenFile.Login: the token from the
// file, checked with a lookup-self.
func authLoginTokenFile(ctx context.Context, addr, filename string) (string, error) {
	token, err := readTokenFile(filename)
	if err != nil {
		return "", err
	}
	c, err := newClient(addr, token)
	if err != nil {
		return "", err
	}
	resp, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return "", err
	}
	if resp == nil {
		return "", errors.New("empty token lookup response")
	}
	return token, nil
}

// providerSession is the provider's client once configured.
type providerSession struct {
	// Client carries the child token: every resource and data source uses it.
	Client *api.Client
	// Parent is the lookup-self of the token the provider was given.
	Parent *api.Secret
	// Child is the auth/token/create response.
	Child *api.Secret
}

// configure mirrors ProviderMeta.setClient (internal/provider/meta.go) once
// it has a token (from auth_login, auth_login_token_file or VAULT_TOKEN):
// a lookup-self, then createChildToken with the provider's defaults.
func configure(ctx context.Context, addr, token string) (*providerSession, error) {
	c, err := newClient(addr, token)
	if err != nil {
		return nil, err
	}
	info, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to lookup token, err=%w", err)
	}
	if info == nil {
		return nil, errors.New("no token information returned from self lookup")
	}
	child, err := createChildToken(ctx, c)
	if err != nil {
		return nil, err
	}
	c.SetToken(child.Auth.ClientToken)
	return &providerSession{Client: c, Parent: info, Child: child}, nil
}

// createChildToken mirrors createChildToken (internal/provider/meta.go):
// auth/token/create with display_name "terraform", ttl and explicit_max_ttl
// max_lease_ttl_seconds (1200 s by default), not renewable; no policies, so
// the child inherits the parent's.
func createChildToken(ctx context.Context, c *api.Client) (*api.Secret, error) {
	child, err := c.Auth().Token().CreateWithContext(ctx, childTokenRequest())
	if err != nil {
		return nil, fmt.Errorf("failed to create limited child token: %w", err)
	}
	if child == nil || child.Auth == nil || child.Auth.ClientToken == "" {
		return nil, errors.New("failed to create limited child token: no token in the response")
	}
	return child, nil
}

// childTokenRequest is createChildToken's request, with the provider's
// defaults.
func childTokenRequest() *api.TokenCreateRequest {
	renewable := false
	return &api.TokenCreateRequest{
		DisplayName:    providerTokenName,
		TTL:            fmt.Sprintf("%ds", providerMaxLeaseTTL),
		ExplicitMaxTTL: fmt.Sprintf("%ds", providerMaxLeaseTTL),
		Renewable:      &renewable,
	}
}

// normalizeDataJSON mirrors normalizeDataJSON (vault/resource_generic_secret.go),
// the StateFunc of data_json: decoded into a map and encoded again (sorted
// keys, no spaces).
func normalizeDataJSON(data string) (string, error) {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return "", err
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// genericEndpointReadState mirrors genericEndpointResourceRead
// (vault/resource_generic_endpoint.go) with ignore_absent_fields = true:
// the data_json it stores after reading the endpoint is the written
// data_json with each of its fields replaced by the value read, if the
// read has that field. Terraform then compares it with the normalized
// configuration: any difference is a change on every plan.
func genericEndpointReadState(supplied string, read map[string]interface{}) (string, error) {
	relevant := map[string]interface{}{}
	if err := json.Unmarshal([]byte(supplied), &relevant); err != nil {
		return "", fmt.Errorf("data_json %#v syntax error: %s", supplied, err)
	}
	for k, v := range read {
		if _, ok := relevant[k]; ok {
			relevant[k] = v
		}
	}
	b, err := json.Marshal(relevant)
	return string(b), err
}

// openKVV2Secret mirrors KVV2EphemeralSecretResource.Open
// (internal/vault/secrets/ephemeral/kv_secret_v2.go), the ephemeral
// "vault_kv_secret_v2" resource without version: a read of MOUNT/data/NAME
// with the provider's client, nothing found being an error. Its result is
// what the configuration may reference: data (a map of strings, as
// types.MapValueFrom makes it: a value that is not a string fails the
// open), data_json (that map as JSON) and the metadata's times. The
// provider keeps none of it once the phase ends.
func openKVV2Secret(ctx context.Context, c *api.Client, mount, name string) (cty.Value, error) {
	path := fmt.Sprintf("%s/data/%s", mount, name)
	secret, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return cty.NilVal, fmt.Errorf("error reading from Vault: %w", err)
	}
	if secret == nil {
		return cty.NilVal, errors.New("no response from Vault: the secret at " + path + " is missing")
	}
	raw, _ := secret.Data["data"].(map[string]interface{})
	data := map[string]cty.Value{}
	plain := map[string]string{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return cty.NilVal, fmt.Errorf("%s: data field %q is a %T, not a string", path, k, v)
		}
		data[k] = cty.StringVal(s)
		plain[k] = s
	}
	dataJSON, err := json.Marshal(plain)
	if err != nil {
		return cty.NilVal, err
	}
	meta, _ := secret.Data["metadata"].(map[string]interface{})
	str := func(k string) cty.Value { s, _ := meta[k].(string); return cty.StringVal(s) }
	destroyed, _ := meta["destroyed"].(bool)
	dataVal := cty.MapValEmpty(cty.String)
	if len(data) > 0 {
		dataVal = cty.MapVal(data)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"mount":         cty.StringVal(mount),
		"name":          cty.StringVal(name),
		"data":          dataVal,
		"data_json":     cty.StringVal(string(dataJSON)),
		"created_time":  str("created_time"),
		"deletion_time": str("deletion_time"),
		"destroyed":     cty.BoolVal(destroyed),
	}), nil
}

// writeKVV2Secret mirrors kvSecretV2Write (vault/resource_kv_secret_v2.go)
// on create with data_json_wo: the write-only JSON, decoded, under "data",
// with cas and options as the schema leaves them unset (util.RetryWrite
// sends it again on a 400 answer, up to 60 times 500 ms apart; the replay
// writes once and wants it accepted), then kvSecretV2Read: a read of MOUNT/data/NAME and, because Vault
// reports custom_metadata, of MOUNT/metadata/NAME. The resource's state
// keeps the metadata and an empty data map: never the value.
func writeKVV2Secret(ctx context.Context, c *api.Client, mount, name, dataJSONWO string) (*api.Secret, error) {
	var secretData map[string]interface{}
	if err := json.Unmarshal([]byte(dataJSONWO), &secretData); err != nil {
		return nil, fmt.Errorf("data_json syntax error: %w", err)
	}
	path := fmt.Sprintf("%s/data/%s", mount, name)
	body := map[string]interface{}{"data": secretData, "cas": 0, "options": map[string]interface{}{}}
	if _, err := c.Logical().WriteWithContext(ctx, path, body); err != nil {
		return nil, fmt.Errorf("error writing to path %q, err=%w", path, err)
	}
	secret, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("error reading from Vault: %w", err)
	}
	if secret == nil {
		return nil, fmt.Errorf("secret (%s) not found after its write", path)
	}
	if meta, ok := secret.Data["metadata"].(map[string]interface{}); ok {
		if _, ok := meta["custom_metadata"]; ok {
			if _, err := c.Logical().ReadWithContext(ctx, fmt.Sprintf("%s/metadata/%s", mount, name)); err != nil {
				return nil, fmt.Errorf("reading the metadata: %w", err)
			}
		}
	}
	return secret, nil
}
