package terraform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// The example's directories under docs/terraform.
const (
	operatorDir       = "operator"
	workloadLoginDir  = "workload-login"
	workloadTokenFile = "workload-token-file"
)

// The provider the example is written for; every module must say so.
const (
	providerSource     = "hashicorp/vault"
	providerConstraint = "~> 5.11"
	terraformRequired  = ">= 1.11"
)

// replayedAttrs lists, per resource type, the arguments the replay sends
// exactly as the provider would. An argument outside this list (or a
// resource type outside it) fails the test: the replay would not cover it.
var replayedAttrs = map[string][]string{
	"vault_plugin":                {"type", "name", "command", "version", "sha256"},
	"vault_plugin_pinned_version": {"type", "name", "version"},
	"vault_auth_backend":          {"type", "path", "description"},
	"vault_mount":                 {"path", "type", "options", "description"},
	"vault_policy":                {"name", "policy"},
	"vault_generic_endpoint":      {"path", "data_json", "ignore_absent_fields"},
	// data_json_wo_version is not sent: it only tells the provider when to
	// send the write-only value again.
	"vault_kv_secret_v2": {"mount", "name", "data_json_wo", "data_json_wo_version"},
}

// deprecatedDataSources are data sources the provider v5.11.0 marks
// deprecated, with its DeprecationMessage: every plan prints it.
var deprecatedDataSources = map[string]string{
	"vault_kv_secret_v2": "Deprecated. Please use new Ephemeral KVV2 Secret resource `vault_kv_secret_v2` instead",
}

// metaArgs are the meta-arguments the replay understands (ordering only).
var metaArgs = map[string]bool{"depends_on": true}

func loadExample(t testing.TB, name string) *hclModule {
	t.Helper()
	m, err := loadModule(filepath.Join(harness.RepoRoot(t), "docs", "terraform", name))
	if err != nil {
		t.Fatalf("reading the example: %v", err)
	}
	return m
}

// stringAttr evaluates a block attribute that must be a string.
func stringAttr(t testing.TB, b *hclsyntax.Block, name string, resolve *resolver) string {
	t.Helper()
	a := b.Body.Attributes[name]
	if a == nil {
		t.Fatalf("%s: %s %q has no %s", pos(b.TypeRange), b.Type, b.Labels, name)
	}
	v, err := eval(a.Expr, resolve)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: %s is %T, not a string", pos(a.SrcRange), name, v)
	}
	return s
}

// varRef returns NAME if e is the reference var.NAME, else "".
func varRef(e hcl.Expression) string {
	tr, diags := hcl.AbsTraversalForExpr(e)
	if diags.HasErrors() || len(tr) != 2 || tr.RootName() != "var" {
		return ""
	}
	return step(tr, 1)
}

// isTrue reports whether e is the literal true.
func isTrue(e hcl.Expression) bool {
	lit, ok := e.(*hclsyntax.LiteralValueExpr)
	return ok && lit.Val.RawEquals(cty.True)
}

// literalTail is the literal text a string expression ends with, or "".
func literalTail(e hcl.Expression) string {
	if tmpl, ok := e.(*hclsyntax.TemplateExpr); ok && len(tmpl.Parts) > 0 {
		e = tmpl.Parts[len(tmpl.Parts)-1]
	}
	if lit, ok := e.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
		return lit.Val.AsString()
	}
	return ""
}

// checkTerraformBlock checks the version constraints every module repeats.
func checkTerraformBlock(t *testing.T, m *hclModule) {
	t.Helper()
	tf := m.all("terraform")
	if len(tf) != 1 {
		t.Fatalf("%s: want one terraform block, found %d", m.dir, len(tf))
	}
	noVars := m.resolver(nil)
	if got := stringAttr(t, tf[0], "required_version", noVars); got != terraformRequired {
		t.Errorf("%s: required_version %q, want %q", m.dir, got, terraformRequired)
	}
	rp := blocksOf(tf[0].Body, "required_providers")
	if len(rp) != 1 || rp[0].Body.Attributes["vault"] == nil {
		t.Fatalf("%s: want required_providers with vault", m.dir)
	}
	v, err := eval(rp[0].Body.Attributes["vault"].Expr, noVars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{"source": providerSource, "version": providerConstraint}
	if fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("%s: required_providers.vault = %v, want %v", m.dir, v, want)
	}
}

// providerBlock returns the module's one provider "vault" block.
func providerBlock(t testing.TB, m *hclModule) *hclsyntax.Block {
	t.Helper()
	p, err := m.find("provider", "vault")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.all("provider")) != 1 {
		t.Fatalf("%s: want exactly one provider block", m.dir)
	}
	return p
}

// resourceKey is TYPE.NAME.
func resourceKey(b *hclsyntax.Block) string { return strings.Join(b.Labels, ".") }

// checkResources checks that every resource of m is of a replayed type and
// sets only replayed arguments.
func checkResources(t *testing.T, m *hclModule) {
	t.Helper()
	for _, r := range m.all("resource") {
		if len(r.Labels) != 2 {
			t.Errorf("%s: resource needs a type and a name", pos(r.TypeRange))
			continue
		}
		allowed, ok := replayedAttrs[r.Labels[0]]
		if !ok {
			t.Errorf("%s: resource type %s is not replayed by this test: add its replay", pos(r.TypeRange), r.Labels[0])
			continue
		}
		if len(r.Body.Blocks) > 0 {
			t.Errorf("%s: %s has nested blocks (%s); the replay does not send them", pos(r.TypeRange), resourceKey(r), r.Body.Blocks[0].Type)
		}
		for _, name := range attrNames(r.Body) {
			if metaArgs[name] {
				continue
			}
			found := false
			for _, n := range allowed {
				found = found || n == name
			}
			if !found {
				t.Errorf("%s: %s sets %s, which the replay does not send: add it to the replay", pos(r.Body.Attributes[name].SrcRange), resourceKey(r), name)
			}
		}
	}
}

// dependencyOrder orders resources so that each comes after those it
// references (in arguments or depends_on), as Terraform applies them; ties
// are broken by TYPE.NAME so the order is stable.
func dependencyOrder(m *hclModule) ([]*hclsyntax.Block, error) {
	res := m.all("resource")
	byKey := map[string]*hclsyntax.Block{}
	for _, r := range res {
		byKey[resourceKey(r)] = r
	}
	deps := map[string]map[string]bool{}
	for _, r := range res {
		d := map[string]bool{}
		for _, a := range r.Body.Attributes {
			for _, tr := range a.Expr.Variables() {
				if k := tr.RootName() + "." + step(tr, 1); byKey[k] != nil {
					d[k] = true
				}
			}
		}
		deps[resourceKey(r)] = d
	}
	var order []*hclsyntax.Block
	done := map[string]bool{}
	for len(order) < len(res) {
		var ready []string
		for k := range byKey {
			if done[k] {
				continue
			}
			ok := true
			for d := range deps[k] {
				ok = ok && done[d]
			}
			if ok {
				ready = append(ready, k)
			}
		}
		if len(ready) == 0 {
			return nil, fmt.Errorf("%s: the resources reference each other in a cycle", m.dir)
		}
		sort.Strings(ready)
		done[ready[0]] = true
		order = append(order, byKey[ready[0]])
	}
	return order, nil
}

// TestExampleShape reads docs/terraform and checks the shape the replay
// relies on. It needs no Vault: it fails as soon as the example changes in
// a way the replay does not cover.
func TestExampleShape(t *testing.T) {
	op := loadExample(t, operatorDir)
	login := loadExample(t, workloadLoginDir)
	tokenFile := loadExample(t, workloadTokenFile)

	for _, m := range []*hclModule{op, login, tokenFile} {
		checkTerraformBlock(t, m)
		checkResources(t, m)
	}

	t.Run("operator", func(t *testing.T) {
		p := providerBlock(t, op)
		if len(p.Body.Attributes) != 0 || len(p.Body.Blocks) != 0 {
			t.Errorf("%s: the operator's provider takes VAULT_ADDR and VAULT_TOKEN from the environment; the replay assumes an empty provider block", pos(p.TypeRange))
		}
		if _, err := dependencyOrder(op); err != nil {
			t.Fatal(err)
		}
		// The enrollment endpoint must never be written from Terraform: its
		// response carries the client's entropy.
		for _, r := range op.all("resource") {
			for _, a := range r.Body.Attributes {
				if strings.HasSuffix(literalTail(a.Expr), "/enroll") {
					t.Errorf("%s: %s writes an enroll endpoint", pos(a.SrcRange), resourceKey(r))
				}
			}
		}
		for _, r := range op.all("resource") {
			if r.Labels[0] != "vault_generic_endpoint" {
				continue
			}
			ia := r.Body.Attributes["ignore_absent_fields"]
			if ia == nil {
				t.Errorf("%s: %s needs ignore_absent_fields = true (a role reads back every field)", pos(r.TypeRange), resourceKey(r))
			} else if !isTrue(ia.Expr) {
				t.Errorf("%s: ignore_absent_fields must be the literal true", pos(ia.SrcRange))
			}
			dj := r.Body.Attributes["data_json"]
			if dj == nil {
				t.Errorf("%s: %s has no data_json", pos(r.TypeRange), resourceKey(r))
			} else if c, ok := dj.Expr.(*hclsyntax.FunctionCallExpr); !ok || c.Name != "jsonencode" {
				t.Errorf("%s: data_json must be jsonencode({...})", pos(dj.SrcRange))
			}
		}
	})

	t.Run("workload-login", func(t *testing.T) {
		p := providerBlock(t, login)
		if len(p.Body.Attributes) != 0 || len(p.Body.Blocks) != 1 || p.Body.Blocks[0].Type != "auth_login" {
			t.Fatalf("%s: want a provider with one auth_login block and nothing else", pos(p.TypeRange))
		}
		al := p.Body.Blocks[0]
		if got := attrNames(al.Body); strings.Join(got, ",") != "parameters,path" {
			t.Fatalf("%s: auth_login sets %v; the replay covers path and parameters", pos(al.TypeRange), got)
		}
		params, ok := al.Body.Attributes["parameters"].Expr.(*hclsyntax.ObjectConsExpr)
		if !ok {
			t.Fatalf("%s: parameters must be an object", pos(al.TypeRange))
		}
		// Each parameter is var.NAME: key -> NAME.
		paramVars := map[string]string{}
		var keys []string
		for _, item := range params.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || k.Type() != cty.String {
				t.Fatalf("%s: parameter keys must be names", pos(item.KeyExpr.Range()))
			}
			keys = append(keys, k.AsString())
			paramVars[k.AsString()] = varRef(item.ValueExpr)
			if paramVars[k.AsString()] == "" {
				t.Errorf("%s: parameter %s must be a variable", pos(item.ValueExpr.Range()), k.AsString())
			}
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "client_id,proof,role" {
			t.Errorf("%s: parameters %v, want client_id, proof and role", pos(params.SrcRange), keys)
		}
		// The proof variable must be ephemeral: a saved plan must not keep
		// it, so that apply takes a fresh one.
		proofVar := paramVars["proof"]
		if proofVar == "" {
			t.Fatalf("%s: the proof must be a variable", pos(params.SrcRange))
		}
		v, err := login.find("variable", proofVar)
		if err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"ephemeral", "sensitive"} {
			a := v.Body.Attributes[flag]
			if a == nil {
				t.Errorf("%s: variable %s must be %s", pos(v.TypeRange), proofVar, flag)
			} else if !isTrue(a.Expr) {
				t.Errorf("%s: %s must be the literal true", pos(a.SrcRange), flag)
			}
		}
		// The proof comes from the environment, never from a file.
		vals, err := login.tfvarValues()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vals[proofVar]; ok {
			t.Errorf("terraform.tfvars.example sets the proof")
		}
		checkSecretRead(t, login)
	})

	t.Run("workload-token-file", func(t *testing.T) {
		p := providerBlock(t, tokenFile)
		if len(p.Body.Attributes) != 0 || len(p.Body.Blocks) != 1 || p.Body.Blocks[0].Type != "auth_login_token_file" {
			t.Fatalf("%s: want a provider with one auth_login_token_file block and nothing else", pos(p.TypeRange))
		}
		tf := p.Body.Blocks[0]
		if got := attrNames(tf.Body); strings.Join(got, ",") != "filename" {
			t.Fatalf("%s: auth_login_token_file sets %v; the replay covers filename", pos(tf.TypeRange), got)
		}
		if varRef(tf.Body.Attributes["filename"].Expr) == "" {
			t.Errorf("%s: filename must be a reference such as var.NAME", pos(tf.TypeRange))
		}
		checkSecretRead(t, tokenFile)
	})
}

// checkSecretRead checks the workload reads its secret with one ephemeral
// "vault_kv_secret_v2" (mount and name only) and hands its data on to one
// vault_kv_secret_v2 resource through the write-only data_json_wo, the
// only place the replay sends it.
func checkSecretRead(t *testing.T, m *hclModule) {
	t.Helper()
	eph := m.all("ephemeral")
	if len(eph) != 1 || len(eph[0].Labels) != 2 || eph[0].Labels[0] != "vault_kv_secret_v2" {
		t.Fatalf("%s: want one ephemeral \"vault_kv_secret_v2\"", m.dir)
	}
	if got := attrNames(eph[0].Body); strings.Join(got, ",") != "mount,name" || len(eph[0].Body.Blocks) > 0 {
		t.Errorf("%s: the ephemeral resource sets %v; the replay covers mount and name", pos(eph[0].TypeRange), got)
	}
	res := m.all("resource")
	if len(res) != 1 || res[0].Labels[0] != "vault_kv_secret_v2" {
		t.Fatalf("%s: want one resource, a vault_kv_secret_v2 that takes the secret write-only", m.dir)
	}
	// Where the ephemeral value is used: only in data_json_wo (a
	// write-only argument, never stored), and there it is the data.
	want := "ephemeral." + resourceKey(eph[0]) + ".data"
	for _, name := range attrNames(res[0].Body) {
		a := res[0].Body.Attributes[name]
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "ephemeral" {
				continue
			}
			if name != "data_json_wo" {
				t.Errorf("%s: %s takes an ephemeral value; only the write-only data_json_wo may", pos(a.SrcRange), name)
			}
			if got := "ephemeral." + step(tr, 1) + "." + step(tr, 2) + "." + step(tr, 3); got != want || len(tr) != 4 {
				t.Errorf("%s: data_json_wo uses %s; the replay hands on %s", pos(tr.SourceRange()), got, want)
			}
		}
	}
	if a := res[0].Body.Attributes["data_json_wo"]; a == nil || len(a.Expr.Variables()) == 0 {
		t.Errorf("%s: %s must take the ephemeral secret in data_json_wo", pos(res[0].TypeRange), resourceKey(res[0]))
	}
	if a := res[0].Body.Attributes["data_json_wo_version"]; a == nil {
		t.Errorf("%s: %s needs data_json_wo_version (without it a changed secret is never sent again)", pos(res[0].TypeRange), resourceKey(res[0]))
	} else if lit, ok := a.Expr.(*hclsyntax.LiteralValueExpr); !ok || lit.Val.Type() != cty.Number {
		t.Errorf("%s: data_json_wo_version must be a literal number", pos(a.SrcRange))
	}
}

// TestNoDeprecatedDataSource fails if an example goes back to a data source
// the provider deprecates, such as data "vault_kv_secret_v2": every plan
// would print the deprecation, and its result would be stored in the state.
// It reads the files itself, not through the loader, which refuses every
// data block anyway.
func TestNoDeprecatedDataSource(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(harness.RepoRoot(t), "docs", "terraform", "*", "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .tf files under docs/terraform")
	}
	for _, f := range files {
		b, err := parseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range b.Blocks {
			if blk.Type != "data" || len(blk.Labels) == 0 {
				continue
			}
			if msg, ok := deprecatedDataSources[blk.Labels[0]]; ok {
				t.Errorf("%s: data %q is deprecated by the provider (%q): use the ephemeral resource", pos(blk.TypeRange), blk.Labels[0], msg)
			}
		}
	}
}

// TestLoaderStrictness checks the loader refuses, with file and line,
// what the replay cannot evaluate, instead of skipping it, and resolves the
// references it can (variables, defaults, configured resource arguments).
func TestLoaderStrictness(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mod")
	src := `variable "v" {}
variable "d" { default = "dflt" }
resource "t" "r" {
  a    = "x-${var.v}"
  b    = jsonencode({ k = [t.r.a, var.d], n = 1800 })
  fn   = file("x")
  comp = t.r.id
  data = data.t.r.a
  loc  = local.x
  und  = var.undeclared
  miss = t.missing.a
  bare = x
  cyc  = t.r.cyc
  eph  = ephemeral.e.x.data.k
  shut = ephemeral.e.shut.data
  nope = ephemeral.e.none.data
}
ephemeral "e" "x" {}
ephemeral "e" "shut" {}
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := loadModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.find("resource", "t", "r")
	if err != nil {
		t.Fatal(err)
	}
	res := m.resolver(map[string]interface{}{"v": "val", "undeclared": "1"})
	if got := stringAttr(t, r, "b", res); got != `{"k":["x-val","dflt"],"n":1800}` {
		t.Errorf("b = %s", got)
	}
	opened := res.withEphemeral("e.x", cty.ObjectVal(map[string]cty.Value{"data": cty.MapVal(map[string]cty.Value{"k": cty.StringVal("ev")})}))
	if got := stringAttr(t, r, "eph", opened); got != "ev" {
		t.Errorf("eph = %s", got)
	}
	// Opening one ephemeral resource opens no other.
	if _, err := eval(r.Body.Attributes["shut"].Expr, opened); err == nil || !strings.Contains(err.Error(), "ephemeral.e.shut is not open") {
		t.Errorf("shut with e.x open: %v", err)
	}
	if _, err := eval(r.Body.Attributes["a"].Expr, m.resolver(nil)); err == nil || !strings.Contains(err.Error(), "mod/main.tf:4") {
		t.Errorf("a variable without a value: %v", err)
	}
	for attr, want := range map[string]string{
		"fn":   "mod/main.tf:6,10-14: Call to unknown function",
		"comp": "mod/main.tf:7: t.r.id is not set in the configuration",
		"data": "mod/main.tf:8,10-14: Unknown variable",
		"loc":  "mod/main.tf:9,10-15: Unknown variable",
		"und":  "mod/main.tf:10: var.undeclared is not declared",
		"miss": "mod/main.tf:11: t.missing is not a resource of the module",
		"bare": "mod/main.tf:12,10-11: Unknown variable",
		"cyc":  "mod/main.tf:13: references nest too deep",
		"eph":  "mod/main.tf:14: ephemeral.e.x is not open",
		"shut": "mod/main.tf:15: ephemeral.e.shut is not open",
		"nope": "mod/main.tf:16: ephemeral.e.none is not an ephemeral resource of the module",
	} {
		if _, err := eval(r.Body.Attributes[attr].Expr, res); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q...", attr, err, want)
		}
	}
	if _, err := dependencyOrder(m); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a resource referencing itself: %v", err)
	}

	// Errors found while loading also say where.
	const decl = "variable \"v\" {}\n"
	for _, tc := range []struct{ name, tf, tfvars, want string }{
		{"syntax", "resource \"t\" \"r\" {\n  a = 1 +\n}\n", "", "bad/main.tf:2,10-3,1: Invalid expression"},
		{"duplicate", "resource \"t\" \"r\" {\n  a = 1\n  a = 2\n}\n", "", "bad/main.tf:3,3-4: Attribute redefined"},
		{"top-level attribute", decl + "a = 1\n", "", "bad/main.tf:2: top-level attribute a"},
		{"data block", decl + "data \"vault_kv_secret_v2\" \"app\" {}\n", "", "bad/main.tf:2: data blocks are not replayed"},
		{"output block", decl + "output \"o\" { value = 1 }\n", "", "bad/main.tf:2: output blocks are not replayed"},
		{"locals block", decl + "locals {}\n", "", "bad/main.tf:2: locals blocks are not replayed"},
		{"unknown block", decl + "check \"c\" {}\n", "", "bad/main.tf:2: check blocks are not replayed"},
		{"tfvars block", decl, "v = 1\nx {}\n", "bad/terraform.tfvars.example:2: blocks in terraform.tfvars.example"},
		{"tfvars undeclared", decl, "v = 1\nw = 2\n", "bad/terraform.tfvars.example:2: w is set but not declared"},
		{"tfvars reference", decl, "\nv = var.v\n", "bad/terraform.tfvars.example:2: references are not allowed"},
		{"tfvars function", decl, "\nv = file(\"x\")\n", "bad/terraform.tfvars.example:2,5-9: Call to unknown function"},
	} {
		dir := filepath.Join(t.TempDir(), "bad")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{"main.tf": tc.tf, "terraform.tfvars.example": tc.tfvars}
		for f, text := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, err := loadModule(dir)
		if err == nil {
			_, err = m.tfvarValues()
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q...", tc.name, err, tc.want)
		}
	}
}

// TestDocSnippets checks that every ```hcl block of docs/terraform.md is
// an exact excerpt of one of the example's files, so that the page cannot
// show configuration the replay does not cover.
func TestDocSnippets(t *testing.T) {
	root := harness.RepoRoot(t)
	page, err := os.ReadFile(filepath.Join(root, "docs", "terraform.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "terraform", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	blocks := fencedBlocks(string(page), "hcl")
	if len(blocks) == 0 {
		t.Fatal("docs/terraform.md shows no hcl block")
	}
	for i, b := range blocks {
		found := false
		for _, src := range sources {
			found = found || strings.Contains(src, b)
		}
		if !found {
			t.Errorf("hcl block %d of docs/terraform.md is not an excerpt of docs/terraform/*/*:\n%s", i+1, b)
		}
	}
}

// fencedBlocks returns the bodies of the ```lang blocks of a Markdown page.
func fencedBlocks(page, lang string) []string {
	var out []string
	lines := strings.Split(page, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+lang {
			continue
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		out = append(out, strings.Join(body, "\n")+"\n")
	}
	return out
}

// TestChildTokenBody checks the ```json block of docs/terraform.md is the
// body of the provider's auth/token/create request, as vault/api encodes
// the request the replay sends.
func TestChildTokenBody(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "docs", "terraform.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := fencedBlocks(string(page), "json")
	if len(blocks) != 1 {
		t.Fatalf("docs/terraform.md has %d json blocks, want the child token request", len(blocks))
	}
	var doc, sent map[string]interface{}
	if err := json.Unmarshal([]byte(blocks[0]), &doc); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(childTokenRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sent); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc, sent) {
		t.Errorf("the page shows %v; the request body is %s", doc, b)
	}
}

// TestNoTfvarsShipped: an example directory must not ship a
// terraform.tfvars. Terraform gives it precedence over TF_VAR_ variables,
// so a user who sets TF_VAR_token_file, as the page says they may, would
// be overridden without a word. Values to copy go in
// terraform.tfvars.example; a variable with one usual value has a default.
func TestNoTfvarsShipped(t *testing.T) {
	found, err := filepath.Glob(filepath.Join(harness.RepoRoot(t), "docs", "terraform", "*", "*.tfvars"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s is shipped: it would override TF_VAR_ variables silently (name it terraform.tfvars.example)", f)
	}
}
