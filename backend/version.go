package backend

// Version is the plugin's version, reported to Vault so that
// `vault plugin register -version=...` and `-plugin-version` pin it.
const Version = "v0.1.0"
