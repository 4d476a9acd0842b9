// Package protocol is the entropy auth method's wire protocol: the login
// proof a client builds from its entropy, the checks a server makes on it,
// and the channel that seals data back to the client in the login response.
//
// It knows neither side of the exchange: no Vault imports, no storage, no
// HTTP. The backend and the client library both import it, so there is one
// implementation of every construction. docs/protocol.md is the normative
// specification; this package follows it line by line.
package protocol
