# scripts/lib/go-build.sh: how every binary of this repository is built,
# for development (build-plugin.sh) and release (release.sh,
# reproducible-check.sh) alike, so that the flags that make a build
# reproducible are written once. Sourced, never run.
# shellcheck shell=bash

# The package whose variables -X sets (internal/buildinfo).
buildinfo_pkg=github.com/entropy-auth/vault-plugin-auth-entropy/internal/buildinfo

# repo_version SRC: the version in SRC/VERSION, the one place it is written.
repo_version() {
  local v
  v=$(tr -d ' \n' <"$1/VERSION")
  if ! [[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "$1/VERSION holds '$v', not a version like v0.1.0" >&2
    return 1
  fi
  echo "$v"
}

# go_build SRC NAME OUTFILE VERSION COMMIT: builds ./cmd/NAME of the module
# in SRC into OUTFILE for $GOOS/$GOARCH (default: this machine's).
# Reproducible: no cgo; -trimpath (no directory in the binary); no VCS
# stamping (-buildvcs=false), the commit set explicitly instead; an empty
# build ID; no timestamps (the go command writes none); the CPU level and
# GOFLAGS fixed, so that the caller's environment changes nothing but the
# Go toolchain, whose version the binary records.
go_build() {
  local src=$1 name=$2 out=$3 version=$4 commit=$5
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS= GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT= GOTOOLCHAIN=local
    go build -trimpath -buildvcs=false \
      -ldflags "-buildid= -X $buildinfo_pkg.version=$version -X $buildinfo_pkg.commit=$commit" \
      -o "$out" "./cmd/$name"
  )
}
