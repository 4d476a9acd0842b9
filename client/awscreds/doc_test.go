package awscreds

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

// docExampleMarker precedes the program in docs/aws.md that must be
// ExampleNew as a main function.
const docExampleMarker = "<!-- example: ExampleNew "

// docs/aws.md shows ExampleNew as a whole program: the same imports, and
// main's body is ExampleNew's. The example compiles with the package's
// tests, so the program in the doc does too.
func TestDocExampleMatches(t *testing.T) {
	doc, err := os.ReadFile("../../docs/aws.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), docExampleMarker)
	if !ok {
		t.Fatalf("docs/aws.md has no %q marker", docExampleMarker)
	}
	_, after, ok = strings.Cut(after, "```go\n")
	program, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("no ```go block after the marker in docs/aws.md")
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	docImports, docBody := funcParts(t, "docs/aws.md", program, "main")
	exImports, exBody := funcParts(t, "example_test.go", string(example), "ExampleNew")
	if !slices.Equal(docImports, exImports) {
		t.Errorf("imports differ:\ndocs/aws.md:     %v\nexample_test.go: %v", docImports, exImports)
	}
	if docBody != exBody {
		t.Errorf("docs/aws.md's main differs from ExampleNew:\n--- docs/aws.md\n%s\n--- example_test.go\n%s", docBody, exBody)
	}
}

// funcParts parses a Go file and returns its sorted import paths and the
// printed body of function name.
func funcParts(t *testing.T, what, src, name string) ([]string, string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, what, src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var imports []string
	for _, im := range f.Imports {
		imports = append(imports, im.Path.Value)
	}
	slices.Sort(imports)
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name {
			continue
		}
		var buf bytes.Buffer
		cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}
		if err := cfg.Fprint(&buf, fset, &printer.CommentedNode{Node: fn.Body, Comments: f.Comments}); err != nil {
			t.Fatal(err)
		}
		return imports, buf.String()
	}
	t.Fatalf("%s has no func %s", what, name)
	return nil, ""
}
