package protocol

// Every derivation and every hash has its own label, so that no value can be
// reinterpreted as another (domain separation). The labels are part of the
// protocol: changing one is a new protocol version.
const (
	labelPrefix = "vault-plugin-auth-entropy/v1/"

	labelKeyID         = labelPrefix + "key-id"
	labelRanges        = labelPrefix + "ranges"
	labelDigest        = labelPrefix + "digest"
	labelHPKEInfo      = labelPrefix + "proof"
	labelRSAPayloadKey = labelPrefix + "rsa/payload-key"
	labelRSAExporter   = labelPrefix + "rsa/exporter"
	labelResponse      = labelPrefix + "response/"
	labelResponseKey   = labelPrefix + "response-key"
	labelEntropyKey    = labelPrefix + "entropy-key"
	labelNonceID       = labelPrefix + "nonce-id"
	labelCommitment    = labelPrefix + "nonce-commitment"
	labelChallenge     = labelPrefix + "challenge"
)
