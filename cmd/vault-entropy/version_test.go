package main

import (
	"encoding/json"
	"runtime"
	"testing"
)

// The test binary has no link-time version: it reports the development
// version and an unknown commit, in both formats. The release build's
// values are checked by scripts/reproducible-check.sh on the built binary.
func TestVersionPrintsVersionAndCommit(t *testing.T) {
	r := runCLI(t, "", "version")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := "vault-entropy v0.0.0-dev commit unknown " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r.stdout != want {
		t.Errorf("version printed %q, want %q", r.stdout, want)
	}

	r = runCLI(t, "", "version", "-format=json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != exitOK {
		t.Fatalf("version -format=json: exit %d, %v: %s", r.code, err, r.stdout)
	}
	if v.Version != "v0.0.0-dev" || v.Commit != "unknown" || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -format=json = %+v", v)
	}

	if r := runCLI(t, "", "version", "extra"); r.code != exitUsage {
		t.Errorf("version with an argument: exit %d; want %d (usage)", r.code, exitUsage)
	}
}
