package buildinfo

import "testing"

func TestLinkTimeValuesWin(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })

	version, commit = "", ""
	// A test binary is built without -X and without VCS stamping.
	if got := Version(); got != devVersion {
		t.Errorf("Version() without a link-time version = %q, want %q", got, devVersion)
	}
	if got := Commit(); got != "unknown" {
		t.Errorf("Commit() without a link-time commit = %q, want unknown", got)
	}

	version, commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	if got := Version(); got != "v1.2.3" {
		t.Errorf("Version() = %q, want v1.2.3", got)
	}
	if got := Commit(); got != commit {
		t.Errorf("Commit() = %q, want %q", got, commit)
	}
}
