package backend

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestOperatorReasonsMatchTheCode: the reasons docs/operator.md lists for
// refused logins and renewals are, word for word, the ones the server logs,
// and it lists every one. The server's reasons are read from the source, so
// that a reason added, removed or reworded without the page fails here:
//
//   - a refused login logs its loginRefusal's reason: every error of
//     backend/protocol/errors.go (ParseProof, Open, CheckTime,
//     CheckChallenge, Verify and the nonce store return those), and every
//     backend error a refuse(...) call names;
//   - a refused renewal logs one of the renew* constants of path_login.go.
func TestOperatorReasonsMatchTheCode(t *testing.T) {
	page, err := os.ReadFile("../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	logins := docReasons(t, string(page), "reason in the log")
	renewals := docReasons(t, string(page), "renewal refused: reason in the log")

	// The errors' texts, by name, from the source.
	newError := regexp.MustCompile(`(?m)^\s*(?:var\s+)?(\w+)\s*=\s*errors\.New\(("(?:[^"\\]|\\.)*")\)`)
	texts := map[string]string{}
	var protocolReasons []string
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, m := range newError.FindAllStringSubmatch(read("protocol/errors.go"), -1) {
		text, err := strconv.Unquote(m[2])
		if err != nil {
			t.Fatal(err)
		}
		protocolReasons = append(protocolReasons, text)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var source strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			source.WriteString(read(f))
		}
	}
	for _, m := range newError.FindAllStringSubmatch(source.String(), -1) {
		text, err := strconv.Unquote(m[2])
		if err != nil {
			t.Fatal(err)
		}
		texts[m[1]] = text
	}
	// refuse(errX), refuse(fmt.Errorf("%w ...", errX, ...)); refuse(err)
	// passes on a protocol error.
	refuseCall := regexp.MustCompile(`refuse\((?:fmt\.Errorf\("%w[^"]*",\s*)?(err\w+)`)
	want := slices.Clone(protocolReasons)
	for _, m := range refuseCall.FindAllStringSubmatch(source.String(), -1) {
		text, ok := texts[m[1]]
		if !ok {
			t.Fatalf("refuse(%s): no errors.New for it in the backend", m[1])
		}
		if !slices.Contains(want, text) {
			want = append(want, text)
		}
	}
	compareReasons(t, "login", logins, want)

	renewConst := regexp.MustCompile(`(?m)^\s*(renew\w+)\s*=\s*("(?:[^"\\]|\\.)*")`)
	var wantRenewals []string
	for _, m := range renewConst.FindAllStringSubmatch(read("path_login.go"), -1) {
		text, err := strconv.Unquote(m[2])
		if err != nil {
			t.Fatal(err)
		}
		wantRenewals = append(wantRenewals, text)
	}
	compareReasons(t, "renewal", renewals, wantRenewals)

	// And the sources agree with the values the server uses.
	for _, v := range []error{errUnknownClient, errStaleClient, errClientExpired, errClientLocked,
		errSourceLocked, errSourceAddress, errStaleSuperseded, errClone} {
		if !slices.Contains(logins, v.Error()) {
			t.Errorf("docs/operator.md does not list %q", v)
		}
	}
	for _, v := range []string{renewRoleGone, renewClientGone, renewOtherEnrollment, renewExpired, renewLocked, renewPolicies} {
		if !slices.Contains(renewals, v) {
			t.Errorf("docs/operator.md does not list the renewal reason %q", v)
		}
	}
}

// docReasons returns the `quoted` texts of the first column of the table
// whose header's first cell is header.
func docReasons(t *testing.T, page, header string) []string {
	t.Helper()
	lines := strings.Split(page, "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "| "+header+" |")
	})
	if start < 0 {
		t.Fatalf("docs/operator.md has no table %q", header)
	}
	var out []string
	for _, l := range lines[start+2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		first := strings.SplitN(strings.TrimPrefix(l, "|"), " | ", 2)[0]
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func compareReasons(t *testing.T, what string, documented, code []string) {
	t.Helper()
	if len(code) < 3 {
		t.Fatalf("read %d %s reasons from the source: the test no longer finds them", len(code), what)
	}
	for _, r := range documented {
		if !slices.Contains(code, r) {
			t.Errorf("docs/operator.md lists the %s reason %q, which the server does not log", what, r)
		}
	}
	for _, r := range code {
		if !slices.Contains(documented, r) {
			t.Errorf("the server logs the %s reason %q, which docs/operator.md does not list", what, r)
		}
	}
	seen := map[string]bool{}
	for _, r := range documented {
		if seen[r] {
			t.Errorf("docs/operator.md lists the %s reason %q twice", what, r)
		}
		seen[r] = true
	}
}
