// Package awscreds is an aws-sdk-go-v2 credentials provider that logs in to
// Vault with the entropy auth method and reads AWS credentials from a Vault
// secrets engine path, such as aws/sts/<role> or aws/creds/<role> of Vault's
// AWS secrets engine.
//
// Wrap the provider in aws.NewCredentialsCache: the provider logs in and
// asks Vault for new credentials on every Retrieve, and the cache calls
// Retrieve only when the credentials it holds have expired.
//
//	vc, _ := api.NewClient(api.DefaultConfig())
//	auth, _ := client.NewEntropyAuth(client.WithStateFile(statePath))
//	cfg, _ := config.LoadDefaultConfig(ctx,
//		config.WithCredentialsProvider(aws.NewCredentialsCache(
//			awscreds.New(vc, auth, "aws/sts/web"))))
//
// Every Retrieve logs in afresh with the client library's login (a fresh
// proof; the server's receipt checked; rotations and new server keys taken
// up, under the state file's lock) and reads the path with that login's
// token, on a copy of the caller's Vault client.
//
// The token is not revoked after the read. Vault revokes a token's leases
// with it, and for an iam_user role the lease is the IAM user: revoking the
// token would delete the user, and the keys just handed out would stop
// working at once. (For STS credentials revocation does nothing: STS
// credentials cannot be revoked.) The token expires with its TTL instead,
// and for the same reason the credentials' expiry is never later than the
// token's; a secret without a lease expires with the token, and with
// neither a lease nor a token TTL Retrieve fails (ErrNoExpiry). So give
// the entropy role's tokens a TTL (token_ttl) at least as long as the
// credentials should live, and no token_num_uses: a token whose
// uses run out is revoked too.
package awscreds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// ProviderName is the Source of the credentials the provider returns.
const ProviderName = "VaultEntropyProvider"

// Errors of a Retrieve, told apart with errors.Is. A refusal by Vault (for
// example a 403 when the token's policies do not allow the path) is an
// *api.ResponseError, found with errors.As; a refused login is
// client.ErrLoginRefused.
var (
	// ErrNoSecret: Vault answered the read with no secret at all (a path
	// that exists but holds nothing, or a 404 without an error message).
	ErrNoSecret = errors.New("Vault returned no secret")
	// ErrBadResponse: the secret lacks a field the provider needs, or a
	// field has the wrong type. The message names the field, never a value.
	ErrBadResponse = errors.New("the secret is not a set of AWS credentials")
	// ErrNoExpiry: neither the secret nor the login's token has a
	// lifetime, so nothing says when the credentials stop working; an SDK
	// would use them for ever. Give the entropy role's tokens a TTL.
	ErrNoExpiry = errors.New("the credentials have no expiry: the secret has no lease and the token no TTL")
)

// Provider is an aws.CredentialsProvider backed by Vault. It is safe for
// concurrent use; wrap it in aws.NewCredentialsCache.
type Provider struct {
	vault  *api.Client
	auth   api.AuthMethod
	path   string
	params map[string][]string
	source string
	margin time.Duration
	now    func() time.Time
}

var _ aws.CredentialsProvider = (*Provider)(nil)

// Option configures a Provider.
type Option func(*Provider)

// WithParameter adds a parameter to the read, sent as a query parameter as
// `vault read PATH name=value` does. Vault's AWS engine takes ttl (for
// example "15m"), role_arn (needed when the Vault role has several) and
// role_session_name on its sts and creds paths.
func WithParameter(name, value string) Option {
	return func(p *Provider) {
		if p.params == nil {
			p.params = map[string][]string{}
		}
		p.params[name] = append(p.params[name], value)
	}
}

// WithExpiryMargin makes the credentials expire the margin earlier than
// Vault says, so that they are replaced before they stop working.
// aws.CredentialsCacheOptions.ExpiryWindow does the same in the cache; use
// one or the other. Credentials that would not outlast the margin are an
// error.
func WithExpiryMargin(d time.Duration) Option {
	return func(p *Provider) { p.margin = d }
}

// WithSource sets the credentials' Source (default ProviderName).
func WithSource(name string) Option {
	return func(p *Provider) { p.source = name }
}

// New returns a provider that logs in to Vault with auth and reads AWS
// credentials from path (for example "aws/sts/web"). It works on a copy of
// vaultClient (its address, TLS settings and headers such as the
// namespace): vaultClient's own token is never replaced or used.
func New(vaultClient *api.Client, auth *client.EntropyAuth, path string, opts ...Option) *Provider {
	p := &Provider{
		vault:  vaultClient,
		path:   strings.Trim(path, "/"),
		source: ProviderName,
		now:    time.Now,
	}
	// A nil *EntropyAuth stored in the interface would not compare equal
	// to nil; keep the interface nil so Retrieve reports it.
	if auth != nil {
		p.auth = auth
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Path is the Vault path the provider reads.
func (p *Provider) Path() string { return p.path }

// Retrieve logs in to Vault and reads new credentials. It implements
// aws.CredentialsProvider.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	switch {
	case p.vault == nil:
		return aws.Credentials{}, errors.New("awscreds: no Vault client")
	case p.auth == nil:
		return aws.Credentials{}, errors.New("awscreds: no auth method")
	case p.path == "":
		return aws.Credentials{}, errors.New("awscreds: no Vault path to read credentials from")
	}
	// A copy for this call: its token is this login's, and the caller's
	// client keeps its own. Concurrent calls do not share a token. It is
	// hardened as the library's own copies are: the read carries the
	// token, so it never follows a redirect elsewhere, and its response
	// is bounded.
	vc, err := client.Harden(p.vault)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("awscreds: copying the Vault client: %w", err)
	}
	vc.ClearToken()
	// Taken before the login, so that the expiries counted from it are
	// never later than Vault's.
	start := p.now()
	login, err := vc.Auth().Login(ctx, p.auth)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("awscreds: logging in to Vault: %w", err)
	}
	secret, err := vc.Logical().ReadWithDataWithContext(ctx, p.path, p.params)
	if err != nil {
		return aws.Credentials{}, readError(p.path, err)
	}
	return p.credentials(secret, login, start)
}

// credentials turns the secret read at p.path into AWS credentials. login
// is the login whose token read it; start is a time before that login.
func (p *Provider) credentials(secret, login *api.Secret, start time.Time) (aws.Credentials, error) {
	if secret == nil || secret.Data == nil {
		return aws.Credentials{}, fmt.Errorf("awscreds: reading %s: %w (is a secrets engine mounted there, and does the role exist?)", p.path, ErrNoSecret)
	}
	accessKey, err := field(secret.Data, p.path, true, "access_key")
	if err != nil {
		return aws.Credentials{}, err
	}
	secretKey, err := field(secret.Data, p.path, true, "secret_key")
	if err != nil {
		return aws.Credentials{}, err
	}
	// Vault's AWS engine sends the STS session token as security_token
	// (recent versions send it as session_token too) and null for IAM
	// user keys; other engines may use either name.
	token, err := field(secret.Data, p.path, false, "security_token", "session_token")
	if err != nil {
		return aws.Credentials{}, err
	}
	creds := aws.Credentials{
		AccessKeyID:     accessKey,
		SecretAccessKey: secretKey,
		SessionToken:    token,
		Source:          p.source,
	}
	expires, ok := expiry(secret, login, start)
	if !ok {
		return aws.Credentials{}, fmt.Errorf("awscreds: reading %s: %w", p.path, ErrNoExpiry)
	}
	expires = expires.Add(-p.margin)
	if !expires.After(p.now()) {
		return aws.Credentials{}, fmt.Errorf("awscreds: the credentials from %s would expire at %s, within the expiry margin of %s: lower the margin, or raise the TTL of the Vault role's tokens or credentials",
			p.path, expires.Add(p.margin).UTC().Format(time.RFC3339), p.margin)
	}
	creds.CanExpire, creds.Expires = true, expires
	return creds, nil
}

// expiry is when the secret stops working: the end of its lease, or the
// end of the token that holds the lease if that comes first (Vault revokes
// a token's leases when it expires). A secret without a lease expires with
// the token too: it was read with that token, and credentials handed out
// must have an end, or an SDK would cache them for ever. With neither a
// lease nor a token TTL there is no expiry (false). Huge values are capped
// (client.Seconds), never overflowed.
func expiry(secret, login *api.Secret, start time.Time) (time.Time, bool) {
	var lease, token time.Duration
	lease = client.Seconds(secret.LeaseDuration)
	if login != nil && login.Auth != nil {
		token = client.Seconds(login.Auth.LeaseDuration)
	}
	d := lease
	if d == 0 || (token > 0 && token < d) {
		d = token
	}
	if d == 0 {
		return time.Time{}, false
	}
	return start.Add(d), true
}

// field reads the first of names present in data as a string. A present
// field that is null counts as absent; a required field must be a
// non-empty string. Errors name the field and its type, never its value.
func field(data map[string]interface{}, path string, required bool, names ...string) (string, error) {
	for _, name := range names {
		v, ok := data[name]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("awscreds: reading %s: %w: field %q is a %s, not a string", path, ErrBadResponse, name, jsonType(v))
		}
		if s == "" && required {
			return "", fmt.Errorf("awscreds: reading %s: %w: field %q is empty", path, ErrBadResponse, name)
		}
		if s != "" {
			return s, nil
		}
	}
	if required {
		return "", fmt.Errorf("awscreds: reading %s: %w: it has no %q field (is it a path of Vault's AWS secrets engine?)", path, ErrBadResponse, names[0])
	}
	return "", nil
}

// jsonType names a decoded JSON value's type as JSON does.
func jsonType(v interface{}) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case map[string]interface{}:
		return "object"
	case []interface{}:
		return "array"
	case string:
		return "string"
	default: // json.Number, float64
		return "number"
	}
}

// readError describes a failed read in one line with Vault's own words,
// and keeps the *api.ResponseError for errors.As.
func readError(path string, err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("awscreds: reading %s: %w", path, err)
	}
	text := vaultErrors(re.Errors)
	if text == "" {
		text = http.StatusText(re.StatusCode)
	}
	hint := ""
	if re.StatusCode == http.StatusForbidden {
		hint = " (the policies of the entropy role's tokens do not allow reading this path)"
	}
	return &vaultError{msg: fmt.Sprintf("awscreds: Vault refused to read %s (%d): %s%s", path, re.StatusCode, text, hint), err: re}
}

// vaultErrors joins Vault's error messages on one line. Vault often wraps
// them as a multierror list ("1 error occurred:\n\t* permission
// denied\n\n"): the list's items are kept, its heading dropped.
func vaultErrors(errs []string) string {
	var items []string
	for _, e := range errs {
		lines := strings.Split(strings.TrimSpace(e), "\n")
		if len(lines) > 1 && strings.HasSuffix(lines[0], "occurred:") {
			lines = lines[1:]
		}
		for _, l := range lines {
			// Vault's words, made safe for a terminal or a log line.
			if l = client.SanitizeText(strings.TrimPrefix(strings.TrimSpace(l), "* ")); l != "" {
				items = append(items, l)
			}
		}
	}
	return strings.Join(items, "; ")
}

type vaultError struct {
	msg string
	err error
}

func (e *vaultError) Error() string { return e.msg }
func (e *vaultError) Unwrap() error { return e.err }
