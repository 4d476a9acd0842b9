package terraform

// The example's files are read with the HCL library Terraform uses
// (hashicorp/hcl/v2, native syntax), so the test sees them as Terraform
// does. Expressions are evaluated with what the replay knows: var.NAME
// (terraform.tfvars.example, values the test sets, defaults), TYPE.NAME.ATTR for
// an argument a resource of the module sets, ephemeral.TYPE.NAME.ATTR for an
// ephemeral resource the replay has opened, and the one function the
// example uses, jsonencode. Anything else (data sources, locals, computed
// attributes, other functions) fails with its file and line instead of
// being skipped, and so does a top-level block of a type the replay does not
// know.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// hclModule is a directory of .tf files and its terraform.tfvars.example.
type hclModule struct {
	dir    string
	blocks []*hclsyntax.Block
	tfvars hclsyntax.Attributes
}

// topLevelBlocks are the block types the replay knows. Any other (data,
// output, locals, module, check, import, ...) fails the load: the replay
// would not send what it stands for.
var topLevelBlocks = map[string]bool{
	"terraform": true,
	"provider":  true,
	"variable":  true,
	"resource":  true,
	"ephemeral": true,
}

// pos is FILE:LINE of a range, FILE being DIR/NAME.tf.
func pos(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// loadModule parses every .tf file of dir, and terraform.tfvars.example (the
// values a user copies to terraform.tfvars, or sets as TF_VAR_...) if there
// is one.
func loadModule(dir string) (*hclModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	m := &hclModule{dir: dir}
	for _, f := range files {
		b, err := parseFile(f)
		if err != nil {
			return nil, err
		}
		if names := attrNames(b); len(names) > 0 {
			return nil, fmt.Errorf("%s: top-level attribute %s in a .tf file", pos(b.Attributes[names[0]].SrcRange), names[0])
		}
		for _, blk := range b.Blocks {
			if !topLevelBlocks[blk.Type] {
				return nil, fmt.Errorf("%s: %s blocks are not replayed", pos(blk.TypeRange), blk.Type)
			}
		}
		m.blocks = append(m.blocks, b.Blocks...)
	}
	vars := filepath.Join(dir, "terraform.tfvars.example")
	if _, err := os.Stat(vars); err == nil {
		b, err := parseFile(vars)
		if err != nil {
			return nil, err
		}
		if len(b.Blocks) > 0 {
			return nil, fmt.Errorf("%s: blocks in terraform.tfvars.example", pos(b.Blocks[0].TypeRange))
		}
		m.tfvars = b.Attributes
	}
	return m, nil
}

func parseFile(path string) (*hclsyntax.Body, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rel := filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path))
	f, diags := hclsyntax.ParseConfig(src, rel, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return f.Body.(*hclsyntax.Body), nil
}

// attrNames returns a body's attribute names, sorted.
func attrNames(b *hclsyntax.Body) []string {
	var names []string
	for n := range b.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// blocksOf returns the nested blocks of a type.
func blocksOf(b *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, blk := range b.Blocks {
		if blk.Type == typ {
			out = append(out, blk)
		}
	}
	return out
}

// all returns the top-level blocks of a type.
func (m *hclModule) all(typ string) []*hclsyntax.Block {
	return blocksOf(&hclsyntax.Body{Blocks: m.blocks}, typ)
}

// find returns the one top-level block of typ with these labels.
func (m *hclModule) find(typ string, labels ...string) (*hclsyntax.Block, error) {
	var found *hclsyntax.Block
	for _, b := range m.all(typ) {
		if strings.Join(b.Labels, "\x00") == strings.Join(labels, "\x00") {
			if found != nil {
				return nil, fmt.Errorf("%s: %s %q declared twice", pos(b.TypeRange), typ, labels)
			}
			found = b
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s: no %s %q", m.dir, typ, labels)
	}
	return found, nil
}

// resolver evaluates expressions of a module with these variable values
// and the ephemeral resources opened so far.
type resolver struct {
	m    *hclModule
	vars map[string]interface{}
	// ephemeral holds, by TYPE.NAME, the result of each ephemeral resource
	// the replay has opened: an object of its attributes.
	ephemeral map[string]cty.Value
}

func (m *hclModule) resolver(vars map[string]interface{}) *resolver {
	return &resolver{m: m, vars: vars}
}

// withEphemeral is r with the result of ephemeral resource TYPE.NAME (key).
func (r *resolver) withEphemeral(key string, result cty.Value) *resolver {
	out := &resolver{m: r.m, vars: r.vars, ephemeral: map[string]cty.Value{key: result}}
	for k, v := range r.ephemeral {
		if k != key {
			out.ephemeral[k] = v
		}
	}
	return out
}

// eval computes an expression's value in the shapes encoding/json gives:
// string, float64, bool, nil, []interface{} or map[string]interface{}.
func eval(e hcl.Expression, r *resolver) (interface{}, error) {
	v, err := r.value(e, 0)
	if err != nil {
		return nil, err
	}
	if v.IsNull() {
		return nil, nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", pos(e.Range()), err)
	}
	var out interface{}
	return out, json.Unmarshal(b, &out)
}

// value evaluates e with an EvalContext holding exactly what e references:
// each reference is resolved (recursively for resource arguments) or
// refused with its position.
func (r *resolver) value(e hcl.Expression, depth int) (cty.Value, error) {
	if depth > 16 {
		return cty.NilVal, fmt.Errorf("%s: references nest too deep (a cycle?)", pos(e.Range()))
	}
	vars := map[string]cty.Value{}
	resources := map[string]map[string]cty.Value{} // TYPE.NAME: ATTR: value
	opened := map[string]map[string]cty.Value{}    // TYPE: NAME: result
	for _, tr := range e.Variables() {
		at := pos(tr.SourceRange())
		root := tr.RootName()
		if root == "var" {
			name := step(tr, 1)
			decl, err := r.m.find("variable", name)
			if err != nil {
				return cty.NilVal, fmt.Errorf("%s: var.%s is not declared", at, name)
			}
			v, err := r.variable(decl)
			if err != nil {
				return cty.NilVal, fmt.Errorf("%s: var.%s: %v", at, name, err)
			}
			vars[name] = v
			continue
		}
		if root == "ephemeral" {
			typ, name := step(tr, 1), step(tr, 2)
			if _, err := r.m.find("ephemeral", typ, name); err != nil {
				return cty.NilVal, fmt.Errorf("%s: ephemeral.%s.%s is not an ephemeral resource of the module", at, typ, name)
			}
			v, ok := r.ephemeral[typ+"."+name]
			if !ok {
				return cty.NilVal, fmt.Errorf("%s: ephemeral.%s.%s is not open (the replay opens it before what uses it)", at, typ, name)
			}
			if opened[typ] == nil {
				opened[typ] = map[string]cty.Value{}
			}
			opened[typ][name] = v
			continue
		}
		isType := false
		for _, b := range r.m.all("resource") {
			isType = isType || len(b.Labels) > 0 && b.Labels[0] == root
		}
		if !isType {
			// data.*, local.* and other names stay out of the context:
			// HCL reports them as unknown variables, with their position.
			continue
		}
		name, attr := step(tr, 1), step(tr, 2)
		res, err := r.m.find("resource", root, name)
		if err != nil {
			return cty.NilVal, fmt.Errorf("%s: %s.%s is not a resource of the module", at, root, name)
		}
		a := res.Body.Attributes[attr]
		if a == nil || metaArgs[attr] {
			return cty.NilVal, fmt.Errorf("%s: %s.%s.%s is not set in the configuration (computed attributes cannot be resolved here)", at, root, name, attr)
		}
		v, err := r.value(a.Expr, depth+1)
		if err != nil {
			return cty.NilVal, err
		}
		if resources[root+"."+name] == nil {
			resources[root+"."+name] = map[string]cty.Value{}
		}
		resources[root+"."+name][attr] = v
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc},
	}
	byType := map[string]map[string]cty.Value{}
	for key, attrs := range resources {
		typ, name, _ := strings.Cut(key, ".")
		if byType[typ] == nil {
			byType[typ] = map[string]cty.Value{}
		}
		byType[typ][name] = cty.ObjectVal(attrs)
	}
	for typ, objs := range byType {
		ctx.Variables[typ] = cty.ObjectVal(objs)
	}
	if len(opened) > 0 {
		byName := map[string]cty.Value{}
		for typ, objs := range opened {
			byName[typ] = cty.ObjectVal(objs)
		}
		ctx.Variables["ephemeral"] = cty.ObjectVal(byName)
	}
	v, diags := e.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return v, nil
}

// variable is the value of a declared variable: the one the test gives,
// else its default.
func (r *resolver) variable(decl *hclsyntax.Block) (cty.Value, error) {
	if v, ok := r.vars[decl.Labels[0]]; ok {
		b, err := json.Marshal(v)
		if err != nil {
			return cty.NilVal, err
		}
		ty, err := ctyjson.ImpliedType(b)
		if err != nil {
			return cty.NilVal, err
		}
		return ctyjson.Unmarshal(b, ty)
	}
	if d := decl.Body.Attributes["default"]; d != nil {
		v, diags := d.Expr.Value(nil)
		if diags.HasErrors() {
			return cty.NilVal, diags
		}
		return v, nil
	}
	return cty.NilVal, fmt.Errorf("no value (and no default)")
}

// step is the name of a traversal's i-th step, or "" if it is not .NAME.
func step(tr hcl.Traversal, i int) string {
	if i < len(tr) {
		if a, ok := tr[i].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}

// tfvarValues evaluates terraform.tfvars.example (no references, as Terraform).
func (m *hclModule) tfvarValues() (map[string]interface{}, error) {
	out := map[string]interface{}{}
	for _, name := range attrNames(&hclsyntax.Body{Attributes: m.tfvars}) {
		a := m.tfvars[name]
		if _, err := m.find("variable", name); err != nil {
			return nil, fmt.Errorf("%s: %s is set but not declared", pos(a.SrcRange), name)
		}
		if refs := a.Expr.Variables(); len(refs) > 0 {
			return nil, fmt.Errorf("%s: references are not allowed in terraform.tfvars.example", pos(refs[0].SourceRange()))
		}
		v, err := eval(a.Expr, &resolver{m: &hclModule{}})
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}
