package protocol_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The refusal classes of docs/protocol.md against the vectors: every class
// that §8.1 names (a word in brackets, `[digest]`) is either in §12.2's
// table of vector classes, and has at least one vector, or in its table of
// classes without vectors, with the reason. So a class added to the spec
// without a vector, or a vector of a class the spec does not name, fails
// here.

const specPath = "../../docs/protocol.md"

// specSection is the text of the section whose heading starts with
// heading, up to the next heading of the same or a higher level.
func specSection(t *testing.T, spec, heading string) string {
	t.Helper()
	i := strings.Index(spec, "\n"+heading)
	if i < 0 {
		t.Fatalf("%s has no section %q", specPath, heading)
	}
	level := strings.Index(heading, " ") // the number of '#'
	rest := spec[i+1+len(heading):]
	for _, h := range regexp.MustCompile(`\n#{1,6} `).FindAllStringIndex(rest, -1) {
		if h[1]-h[0]-2 <= level {
			return rest[:h[0]]
		}
	}
	return rest
}

// specTables returns the rows of the Markdown tables in text, each table
// as the cells of its rows (the header and separator rows left out), keyed
// by the header's first cell.
func specTables(text string) map[string][][]string {
	tables := map[string][][]string{}
	var key string
	inTable := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !inTable:
			inTable, key = true, cells[0]
			tables[key] = nil
		case strings.HasPrefix(cells[0], "---"):
		default:
			tables[key] = append(tables[key], cells)
		}
	}
	return tables
}

// codeWords are the `quoted` words of a cell: `too-old`, `from-future`.
func codeWords(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// specClasses reads the classes §8.1 names, and §12.2's two tables: the
// classes with vectors and the classes without, with their reasons.
func specClasses(t *testing.T) (named []string, withVectors []string, without map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	spec := string(raw)
	for _, m := range regexp.MustCompile("`\\[([a-z-]+)\\]`").FindAllStringSubmatch(specSection(t, spec, "### 8.1 "), -1) {
		if !slices.Contains(named, m[1]) {
			named = append(named, m[1])
		}
	}
	tables := specTables(specSection(t, spec, "### 12.2 "))
	for _, row := range tables["`expect`"] {
		withVectors = append(withVectors, codeWords(row[0])...)
	}
	without = map[string]string{}
	for _, row := range tables["class without a vector"] {
		if len(row) < 2 {
			t.Fatalf("§12.2: row %v gives no reason", row)
		}
		for _, c := range codeWords(row[0]) {
			without[c] = row[len(row)-1]
		}
	}
	if len(named) < 20 || len(withVectors) == 0 || len(without) == 0 {
		t.Fatalf("read %d classes from §8.1, %d with vectors and %d without from §12.2: the layout of %s changed", len(named), len(withVectors), len(without), specPath)
	}
	return named, withVectors, without
}

// checkClassesCovered is called by TestVectors with the count of vectors
// of each expect class.
func checkClassesCovered(t *testing.T, seen map[string]int) {
	named, withVectors, without := specClasses(t)
	for _, c := range named {
		_, excused := without[c]
		switch {
		case slices.Contains(withVectors, c) && excused:
			t.Errorf("§12.2 lists class %s both with and without vectors", c)
		case slices.Contains(withVectors, c) && seen[c] == 0:
			t.Errorf("§12.2 lists class %s with vectors, and docs/vectors has none", c)
		case !slices.Contains(withVectors, c) && !excused:
			t.Errorf("class %s of §8.1 has no vector and §12.2 says nothing of why", c)
		case excused && strings.TrimSpace(without[c]) == "":
			t.Errorf("§12.2 gives no reason why class %s has no vector", c)
		case excused && seen[c] > 0:
			t.Errorf("§12.2 says class %s has no vector, and docs/vectors has %d", c, seen[c])
		}
	}
	for c := range without {
		if !slices.Contains(named, c) {
			t.Errorf("§12.2 lists class %s, which §8.1 does not name", c)
		}
	}
	for c, n := range seen {
		if c != "" && c != "ok" && !slices.Contains(named, c) {
			t.Errorf("%d vectors expect class %s, which §8.1 does not name", n, c)
		}
		if c != "" && !slices.Contains(withVectors, c) {
			t.Errorf("%d vectors expect class %s, which §12.2's table of classes does not list", n, c)
		}
	}
}
