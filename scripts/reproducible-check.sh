#!/usr/bin/env bash
# Usage: scripts/reproducible-check.sh
#
# Builds HEAD's plugin and vault-entropy for linux/amd64 twice, as a release
# builds them (scripts/lib/go-build.sh), from two copies of the commit
# (`git archive`) in two different directories, and fails unless the two
# builds are byte-identical. When run as root and the user "nobody" exists,
# the second build runs as nobody (setpriv), with its own empty Go build
# cache and HOME, and a module cache of its own filled from this user's;
# otherwise it runs as this user with its own empty build cache, and says
# so. Both builds must also report the VERSION file's version and HEAD's
# commit. Part of `make test`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/go-build.sh
. "$here/lib/go-build.sh"
say() { echo "reproducible-check: $*" >&2; }

cd "$root"
commit=$(git rev-parse HEAD)
version=$(repo_version "$root")
names="vault-plugin-auth-entropy vault-entropy"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
# Different names and depths, so that a path in a binary would show.
a=$tmp/first/src
b=$tmp/another/place/vault-plugin-auth-entropy
mkdir -p "$a" "$b" "$tmp/out-a" "$tmp/out-b"
git archive --format=tar HEAD | tar -x -C "$a"
git archive --format=tar HEAD | tar -x -C "$b"

export GOOS=linux GOARCH=amd64
for n in $names; do go_build "$a" "$n" "$tmp/out-a/$n" "$version" "$commit"; done

other=""
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
  other=nobody
fi
if [ -n "$other" ]; then
  # nobody cannot read this user's caches (under a private HOME): it gets a
  # module cache of its own, filled from this user's download cache alone
  # (no network), and builds with the network off.
  modcache=$tmp/modcache
  downloads=$(go env GOMODCACHE)/cache/download
  (cd "$b" && GOFLAGS=-mod=readonly GOMODCACHE=$modcache \
    GOPROXY="file://$downloads" GOSUMDB=off \
    go list -deps ./cmd/vault-plugin-auth-entropy ./cmd/vault-entropy >/dev/null 2>"$tmp/list.log") ||
    { cat "$tmp/list.log" >&2; exit 1; }
  chmod -R a+rX "$modcache"
  mkdir -p "$tmp/home-nobody"
  chown -R nobody "$b" "$tmp/out-b" "$tmp/home-nobody"
  uid=$(id -u nobody) gid=$(id -g nobody)
  for n in $names; do
    setpriv --reuid="$uid" --regid="$gid" --clear-groups \
      env -i PATH="$(dirname "$(command -v go)"):/usr/bin:/bin" HOME="$tmp/home-nobody" \
      GOCACHE="$tmp/home-nobody/go-build" GOMODCACHE="$modcache" GOPROXY=off GOSUMDB=off \
      GOOS=$GOOS GOARCH=$GOARCH \
      bash -c '. "$1"; go_build "$2" "$3" "$4" "$5" "$6"' _ \
      "$here/lib/go-build.sh" "$b" "$n" "$tmp/out-b/$n" "$version" "$commit"
  done
  say "second build as $other (uid $uid), own GOCACHE, HOME and module cache"
else
  for n in $names; do
    GOCACHE=$tmp/gocache-b go_build "$b" "$n" "$tmp/out-b/$n" "$version" "$commit"
  done
  say "second build as the same user $(id -un) with its own GOCACHE: not root, or no user nobody, or no setpriv"
fi

status=0
for n in $names; do
  if cmp -s "$tmp/out-a/$n" "$tmp/out-b/$n"; then
    say "$n: identical, sha256 $(sha256sum <"$tmp/out-a/$n" | cut -d' ' -f1)"
  else
    say "$n: the two builds differ"
    status=1
  fi
done
# The version and commit set at link time are the ones reported.
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
  got=$("$tmp/out-a/vault-plugin-auth-entropy" -version)
  [ "$got" = "$version" ] || { say "plugin -version printed '$got', want $version"; status=1; }
  got=$("$tmp/out-a/vault-plugin-auth-entropy" -build-info)
  [[ $got == "vault-plugin-auth-entropy $version commit $commit "* ]] || { say "plugin -build-info printed '$got'"; status=1; }
  got=$("$tmp/out-a/vault-entropy" version)
  [[ $got == "vault-entropy $version commit $commit "* ]] || { say "vault-entropy version printed '$got'"; status=1; }
fi
exit $status
