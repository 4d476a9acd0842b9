// Package aws is the end-to-end test of AWS credentials through Vault: a
// real MinIO (S3 and STS AssumeRole, built from the Go module proxy by
// scripts/build-minio.sh and run by scripts/minio-server.sh), a real Vault
// with its AWS secrets engine pointed at it, and a workload that logs in
// with entropy and lists a bucket with the credentials it gets, both
// through `vault-entropy aws-credential-process` run by the AWS SDK from a
// credential_process profile and through the Go provider (client/awscreds)
// in aws.NewCredentialsCache. docs/aws.md is the same setup for people.
//
// One stand-in: MinIO does not implement STS GetCallerIdentity, which
// Vault's AWS engine calls to check its STS endpoint before every new STS
// client, so Vault's sts_endpoint is a small proxy (stsShim) that answers
// that one call and passes every other request, AssumeRole included,
// unchanged to MinIO. Everything else is the real programs.
//
// Run with ENTROPY_INTEGRATION=1 (make integration-test); MINIO_BIN and
// VAULT_BIN name prebuilt binaries, else the scripts build them.
package aws
