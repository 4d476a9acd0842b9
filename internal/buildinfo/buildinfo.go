// Package buildinfo holds the version and commit a binary was built from,
// which the release build sets with -ldflags -X (see scripts/go-build.sh):
// the version from the repository's VERSION file, its one source, and the
// commit given explicitly, so that the build does not depend on git's view
// of the checkout (-buildvcs=false) and stays reproducible.
package buildinfo

import "runtime/debug"

// Set by the linker: -X <this package>.version=v0.1.0 -X ....commit=<sha>.
// Strings only (-X sets nothing else), empty when not set.
var (
	version string
	commit  string
)

// devVersion is the version of a build that was given none: a semantic
// version, as Vault's plugin catalog requires, that no release has.
const devVersion = "v0.0.0-dev"

// Version is the version this binary was built as: the one set at link
// time, else the module version `go install ...@vX.Y.Z` records, else
// v0.0.0-dev.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return devVersion
}

// Commit is the git commit this binary was built from: the one set at
// link time, else the one the go command recorded (a build with VCS
// stamping), else "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}
