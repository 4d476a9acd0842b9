# scripts/lib/release-targets.sh: what a release contains, and its SBOM
# tool. Sourced, never run (release.sh).
# shellcheck shell=bash disable=SC2034

# The plugin runs where Vault runs; the CLI where workloads run.
plugin_targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
cli_targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"

# The SBOM generator, pinned, built from the Go module proxy.
cyclonedx_gomod=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0

# artifact_name NAME VERSION GOOS GOARCH: a release file's name.
artifact_name() {
  local ext=
  [ "$3" = windows ] && ext=.exe
  echo "${1}_${2}_${3}_${4}${ext}"
}
