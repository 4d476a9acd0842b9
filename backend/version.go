package backend

import "github.com/entropy-auth/vault-plugin-auth-entropy/internal/buildinfo"

// Version is the plugin's version, reported to Vault as the backend's
// RunningVersion so that `vault plugin register -version=...` and
// `-plugin-version` pin it. It is the release build's version (the
// repository's VERSION file, set at link time: see internal/buildinfo), and
// what `vault-plugin-auth-entropy -version` prints.
var Version = buildinfo.Version()
