#!/usr/bin/env bash
# Usage: scripts/release.sh [VERSION]
#
# Builds release VERSION (default: the VERSION file's; if given, it must be
# the VERSION file's) from the committed tree, which must be clean, into
# dist/VERSION/: the plugin for Linux and macOS and vault-entropy for Linux,
# macOS and Windows, on amd64 and arm64 (scripts/lib/release-targets.sh);
# a CycloneDX SBOM per binary (<binary>.cdx.json); CHANGELOG.md (the
# version's section of CHANGELOG.md, which must have one: "## vX.Y.Z" or
# "## [vX.Y.Z]"); and SHA256SUMS over all of them. The build is the
# reproducible one of scripts/lib/go-build.sh, from a clone of HEAD in a
# temporary directory, so that nothing outside the commit enters it. The
# clone tags HEAD as VERSION (only there), so that the SBOM names the
# version whether or not the repository has the tag yet.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/go-build.sh
. "$here/lib/go-build.sh"
# shellcheck source=lib/release-targets.sh
. "$here/lib/release-targets.sh"
prog=release
say() { echo "$prog: $*" >&2; }
die() { say "$*"; exit 1; }

[ $# -le 1 ] || { echo "usage: $0 [VERSION]" >&2; exit 2; }
cd "$root"
git rev-parse --verify -q HEAD >/dev/null || die "not a git checkout with a commit"
if [ -n "$(git status --porcelain)" ]; then
  git status --short >&2
  die "the tree is not clean: commit or remove these first (a release is built from a commit)"
fi
version=$(repo_version "$root")
if [ -n "${1:-}" ] && [ "$1" != "$version" ]; then
  die "VERSION=$1, but the VERSION file says $version: set the VERSION file to $1 and commit it"
fi
commit=$(git rev-parse HEAD)

# The CHANGELOG section: from its heading to the next "## " heading.
notes=$(awk -v v="$version" '
  /^## / { if (on) exit; h = $2; gsub(/[][]/, "", h); if (h == v) on = 1 }
  on { print }' CHANGELOG.md)
[ -n "$notes" ] || die "CHANGELOG.md has no section \"## $version\" (rename \"## Unreleased\" to it and commit)"

out=$root/dist/$version
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
src=$tmp/src
mkdir -p "$tmp/tools"
git clone -q --no-checkout --no-hardlinks "$root" "$src"
# HEAD itself, also when it is detached and on no branch.
git -C "$src" fetch -q "$root" HEAD
git -C "$src" checkout -q --detach "$commit"
git -C "$src" tag -f "$version" "$commit" >/dev/null

say "$version at $commit, $(go version | cut -d' ' -f3)"
say "building the SBOM tool ($cyclonedx_gomod)"
(cd "$tmp" && GOFLAGS= GOBIN=$tmp/tools go install "$cyclonedx_gomod")

rm -rf "$out"
mkdir -p "$out"
build() { # NAME GOOS/GOARCH
  local name=$1 os=${2%/*} arch=${2#*/} file
  file=$(artifact_name "$name" "$version" "$os" "$arch")
  say "$file"
  GOOS=$os GOARCH=$arch go_build "$src" "$name" "$out/$file" "$version" "$commit"
  # The SBOM of what that build links: the same constraints, no serial
  # number and no timestamp, so that it is as reproducible as the binary.
  (cd "$src" && CGO_ENABLED=0 GOFLAGS= GOOS=$os GOARCH=$arch \
    "$tmp/tools/cyclonedx-gomod" app -json -std -licenses -noserial -notimestamp \
      -main "cmd/$name" -output "$out/$file.cdx.json" . 2>/dev/null) ||
    die "the SBOM of $file failed (run it with -verbose to see why)"
}
for t in $plugin_targets; do build vault-plugin-auth-entropy "$t"; done
for t in $cli_targets; do build vault-entropy "$t"; done
printf '%s\n' "$notes" >"$out/CHANGELOG.md"
(cd "$out" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort |
  xargs sha256sum >SHA256SUMS)
say "done: $out"
ls -l "$out" >&2
