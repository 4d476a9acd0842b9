package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Every request the library and the CLI send carries a proof, a wrapping
// token or a Vault token, and every response it reads is decoded whole into
// memory by vault/api. Two limits keep a hostile or broken server (or
// whoever answers at VAULT_ADDR) from turning that against the client:
//
//   - a response body larger than MaxResponseSize is refused: vault/api
//     buffers a body twice and decodes it into generic maps, so a 64 MiB
//     body cost about 929 MiB of memory;
//   - a redirect to another scheme, host or port is refused: vault/api
//     follows one 301, 302 or 307 anywhere, resending the request's body
//     (the proof) and its X-Vault-Token. A redirect to the same origin is
//     followed as vault/api does (once): it reaches the server the caller
//     chose already.

const (
	// receiptOverhead bounds a receipt's plaintext apart from its
	// rotation's entropy: the field names, the login ID, names and
	// sampling, and the server keys (each well under 200 bytes, so room
	// for hundreds), plus the seal's encapsulated key and tag.
	receiptOverhead = 64 << 10
	// responseOverhead bounds a login response apart from its receipt:
	// the token, accessor, policies, metadata, warnings and Vault's JSON
	// around them.
	responseOverhead = 1 << 20
	// MaxResponseSize is the largest response body the library reads from
	// Vault: the largest legitimate response is a login response whose
	// receipt carries a rotation of protocol.MaxEntropySize bytes, which
	// is base64-encoded in the receipt's JSON, sealed, and base64-encoded
	// again in the response: about 16/9 of the entropy, so 1,601,996
	// bytes (1.53 MiB) with the overheads for 256 KiB of entropy. An
	// enrollment bundle, which holds the entropy base64-encoded once, is
	// smaller. Each base64 step is (n+2)/3*4 bytes, padded (never shorter
	// than unpadded).
	MaxResponseSize = ((protocol.MaxEntropySize+2)/3*4+receiptOverhead+2)/3*4 + responseOverhead
)

// Errors of the transport, told apart with errors.Is.
var (
	// ErrResponseTooLarge: a response body longer than MaxResponseSize.
	ErrResponseTooLarge = fmt.Errorf("the response from Vault is larger than %d bytes, more than any response of the entropy auth method", MaxResponseSize)
	// ErrRedirectRefused: Vault's answer redirects to another origin; the
	// request is not sent there.
	ErrRedirectRefused = errors.New("refusing to follow a redirect to another host: the request carries a proof or a token (point VAULT_ADDR at the server itself)")
)

// boundedTransport limits response bodies and refuses cross-origin
// redirects (see the comment at the top of this file).
type boundedTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if target, perr := req.URL.Parse(loc); perr != nil || !sameOrigin(req.URL, target) {
			resp.Body.Close()
			return nil, fmt.Errorf("%w (%s redirects to %s)", ErrRedirectRefused, origin(req.URL), SanitizeText(redirectTarget(target, loc)))
		}
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (it announces %d)", ErrResponseTooLarge, resp.ContentLength)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit}
	return resp, nil
}

func sameOrigin(a, b *url.URL) bool { return a.Scheme == b.Scheme && a.Host == b.Host }

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

func redirectTarget(u *url.URL, raw string) string {
	if u == nil {
		return raw
	}
	return origin(u)
}

// limitedBody reads at most left bytes and then fails with
// ErrResponseTooLarge, so that a decoder stops rather than buffering on.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrResponseTooLarge
	}
	// One byte beyond the limit tells a body of exactly the limit from a
	// longer one.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - int(-b.left), ErrResponseTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// Harden returns a copy of c, with c's address, TLS settings, headers
// (VAULT_NAMESPACE) and token, whose responses are bounded by
// MaxResponseSize and whose requests never follow a redirect to another
// host. c itself is not changed. Every request the library sends goes
// through such a copy; the CLI makes its Vault client with it.
func Harden(c *api.Client) (*api.Client, error) {
	if c == nil {
		return nil, errors.New("no Vault client")
	}
	conf := c.CloneConfig() // its own copy of the http.Client
	hc := conf.HttpClient
	if _, done := hc.Transport.(*boundedTransport); !done {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = &boundedTransport{base: base, limit: MaxResponseSize}
	}
	// vault/api follows redirects itself (its http.Client stops at the
	// first one); this guards a caller's http.Client that follows them.
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !sameOrigin(via[0].URL, req.URL) {
			return fmt.Errorf("%w (%s redirects to %s)", ErrRedirectRefused, origin(via[0].URL), origin(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	// Neither refusal goes away by asking again.
	retry := conf.CheckRetry
	if retry == nil {
		retry = api.DefaultRetryPolicy
	}
	conf.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if errors.Is(err, ErrRedirectRefused) || errors.Is(err, ErrResponseTooLarge) {
			return false, err
		}
		return retry(ctx, resp, err)
	}
	hardened, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	// NewClient reads VAULT_TOKEN and VAULT_NAMESPACE from the
	// environment: the copy takes c's own instead.
	hardened.SetHeaders(c.Headers())
	if token := c.Token(); token != "" {
		hardened.SetToken(token)
	} else {
		hardened.ClearToken()
	}
	return hardened, nil
}
