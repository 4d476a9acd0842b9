package awscreds

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// Values that must never appear in an error message.
const (
	testAccessKey    = "AKIA-TEST-ACCESS"
	testSecretKey    = "SECRET-KEY-MUST-NOT-LEAK"
	testSessionToken = "SESSION-TOKEN-MUST-NOT-LEAK"
	testLoginToken   = "hvs.login-token-must-not-leak"
	callerToken      = "hvs.callers-own-token"
)

// fakeSecrets plays a Vault secrets engine: every GET under /v1/ is
// answered with status and body, and recorded. The login is not HTTP here
// (fakeLogin stands for it): the client package's tests and the CLI's tests
// drive the real login against fakes of the auth method, and testing/aws
// against a real Vault.
type fakeSecrets struct {
	srv    *httptest.Server
	status int
	body   string

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, token, namespace string
	query                          url.Values
}

func newFakeSecrets(t *testing.T, status int, body string) *fakeSecrets {
	t.Helper()
	f := &fakeSecrets{status: status, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace"), r.URL.Query()})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		w.Write([]byte(f.body))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSecrets) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// fakeLogin is an api.AuthMethod that hands out a token with a TTL, or
// fails; it records the token of the client it was given.
type fakeLogin struct {
	ttl int // seconds; 0: a token without expiry
	err error

	mu          sync.Mutex
	logins      int
	clientToken []string
}

func (l *fakeLogin) Login(ctx context.Context, c *api.Client) (*api.Secret, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logins++
	l.clientToken = append(l.clientToken, c.Token())
	if l.err != nil {
		return nil, l.err
	}
	return &api.Secret{Auth: &api.SecretAuth{ClientToken: testLoginToken, LeaseDuration: l.ttl, Renewable: true}}, nil
}

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestProvider is a provider reading aws/sts/web from f, logging in
// with login, at the fixed time testStart.
func newTestProvider(t *testing.T, f *fakeSecrets, login api.AuthMethod, opts ...Option) (*Provider, *api.Client) {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = f.srv.URL
	conf.MaxRetries = 0
	vc, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(callerToken)
	p := New(vc, nil, "aws/sts/web", opts...)
	p.auth = login
	p.now = func() time.Time { return testStart }
	return p, vc
}

// secretJSON is a Vault response with the given lease and data.
func secretJSON(t *testing.T, lease int, data map[string]interface{}) string {
	t.Helper()
	b, err := json.Marshal(map[string]interface{}{
		"request_id": "r1", "lease_id": "aws/sts/web/abc", "renewable": false,
		"lease_duration": lease, "data": data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stsData() map[string]interface{} {
	return map[string]interface{}{
		"access_key": testAccessKey, "secret_key": testSecretKey,
		"security_token": testSessionToken, "session_token": testSessionToken,
		"arn": "arn:aws:sts::123456789012:assumed-role/web/vault", "ttl": 899,
	}
}

func with(base map[string]interface{}, changes map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == deleted {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// deleted, as a value in with's changes, removes the field.
var deleted = &struct{ name string }{"deleted"}

func TestRetrieveParsesTheSecret(t *testing.T) {
	iamUser := map[string]interface{}{"access_key": testAccessKey, "secret_key": testSecretKey, "session_token": nil}
	cases := []struct {
		name     string
		lease    int // the secret's lease_duration
		tokenTTL int // the login token's
		data     map[string]interface{}
		// wantToken is the session token expected; wantExpires 0: cannot expire.
		wantToken   string
		wantExpires time.Duration
	}{
		{"sts: lease shorter than the token", 900, 3600, stsData(), testSessionToken, 900 * time.Second},
		{"sts: token shorter than the lease", 3600, 600, stsData(), testSessionToken, 600 * time.Second},
		{"sts: token without expiry", 900, 0, stsData(), testSessionToken, 900 * time.Second},
		{"security_token only (older Vault)", 900, 3600, with(stsData(), map[string]interface{}{"session_token": deleted}), testSessionToken, 900 * time.Second},
		{"session_token only (other engines)", 900, 3600, with(stsData(), map[string]interface{}{"security_token": deleted}), testSessionToken, 900 * time.Second},
		{"security_token null, session_token set", 900, 3600, with(stsData(), map[string]interface{}{"security_token": nil}), testSessionToken, 900 * time.Second},
		{"empty security_token, session_token set", 900, 3600, with(stsData(), map[string]interface{}{"security_token": ""}), testSessionToken, 900 * time.Second},
		// An iam_user lease is revoked with its token: its keys last no
		// longer than the token, whatever the lease says.
		{"iam_user: capped by the token", 2764800, 3600, iamUser, "", 3600 * time.Second},
		{"iam_user: token without expiry", 2764800, 0, iamUser, "", 2764800 * time.Second},
		{"no lease: expires with the token", 0, 3600, iamUser, "", 3600 * time.Second},
		// Huge values are capped at time.Duration's range, never
		// overflowed into the past.
		{"huge lease, token shorter", math.MaxInt64, 600, stsData(), testSessionToken, 600 * time.Second},
		{"huge token TTL, lease shorter", 900, 1 << 62, stsData(), testSessionToken, 900 * time.Second},
		{"huge lease and token TTL", 1 << 62, math.MaxInt64, stsData(), testSessionToken, client.Seconds(math.MaxInt64)},
		{"huge lease, no token TTL", math.MaxInt64, 0, stsData(), testSessionToken, client.Seconds(math.MaxInt64)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSecrets(t, http.StatusOK, secretJSON(t, c.lease, c.data))
			p, _ := newTestProvider(t, f, &fakeLogin{ttl: c.tokenTTL})
			creds, err := p.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if creds.AccessKeyID != testAccessKey || creds.SecretAccessKey != testSecretKey || creds.SessionToken != c.wantToken {
				t.Fatalf("credentials: access key %q, secret key set %v, session token set %v (want %v)",
					creds.AccessKeyID, creds.SecretAccessKey == testSecretKey, creds.SessionToken != "", c.wantToken != "")
			}
			if creds.Source != ProviderName {
				t.Errorf("Source = %q", creds.Source)
			}
			if c.wantExpires == 0 {
				if creds.CanExpire {
					t.Errorf("CanExpire with no lease (expires %s)", creds.Expires)
				}
				return
			}
			if !creds.CanExpire || !creds.Expires.Equal(testStart.Add(c.wantExpires)) {
				t.Errorf("expiry: CanExpire %v, Expires %s; want %s", creds.CanExpire, creds.Expires, testStart.Add(c.wantExpires))
			}
		})
	}
}

// Credentials nothing gives an end to are refused: an SDK would use them
// for ever.
func TestRetrieveRefusesCredentialsWithoutExpiry(t *testing.T) {
	f := newFakeSecrets(t, http.StatusOK, secretJSON(t, 0, stsData()))
	p, _ := newTestProvider(t, f, &fakeLogin{ttl: 0})
	creds, err := p.Retrieve(context.Background())
	if !errors.Is(err, ErrNoExpiry) || creds.AccessKeyID != "" || creds.SecretAccessKey != "" {
		t.Fatalf("Retrieve = %v (access key set %v), want ErrNoExpiry", err, creds.AccessKeyID != "")
	}
}

func TestRetrieveRefusesWhatIsNotCredentials(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		is     error  // errors.Is, if set
		want   string // in the message
	}{
		{"no access_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"access_key": deleted})), ErrBadResponse, `no "access_key" field`},
		{"no secret_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"secret_key": deleted})), ErrBadResponse, `no "secret_key" field`},
		{"null secret_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"secret_key": nil})), ErrBadResponse, `no "secret_key" field`},
		{"empty access_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"access_key": ""})), ErrBadResponse, `"access_key" is empty`},
		{"numeric secret_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"secret_key": 12345})), ErrBadResponse, `"secret_key" is a number, not a string`},
		{"object access_key", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"access_key": map[string]string{"id": testAccessKey}})), ErrBadResponse, `"access_key" is a object`},
		{"boolean security_token", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"security_token": true})), ErrBadResponse, `"security_token" is a boolean`},
		{"array session_token", 200, secretJSON(t, 900, with(stsData(), map[string]interface{}{"security_token": deleted, "session_token": []string{testSessionToken}})), ErrBadResponse, `"session_token" is a array`},
		{"a KV secret", 200, secretJSON(t, 0, map[string]interface{}{"password": testSecretKey}), ErrBadResponse, "is it a path of Vault's AWS secrets engine?"},
		{"no data", 200, `{"request_id":"r1","lease_duration":0}`, ErrNoSecret, "Vault returned no secret"},
		{"empty body", 200, ``, ErrNoSecret, "Vault returned no secret"},
		{"404 without errors", 404, `{"errors":[]}`, ErrNoSecret, "is a secrets engine mounted there"},
		{"403", 403, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`, nil, "Vault refused to read aws/sts/web (403): permission denied (the policies"},
		{"two errors", 403, `{"errors":["2 errors occurred:\n\t* permission denied\n\t* no such path\n\n"]}`, nil, "(403): permission denied; no such path (the"},
		{"400 from the engine", 400, `{"errors":["Role \"web\" not found"]}`, nil, `Vault refused to read aws/sts/web (400): Role "web" not found`},
		{"500", 500, `{"errors":["Error assuming role: AccessDenied"]}`, nil, "(500): Error assuming role: AccessDenied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSecrets(t, c.status, c.body)
			p, _ := newTestProvider(t, f, &fakeLogin{ttl: 3600})
			creds, err := p.Retrieve(context.Background())
			if err == nil {
				t.Fatalf("Retrieve succeeded: access key %q", creds.AccessKeyID)
			}
			if creds != (aws.Credentials{}) {
				t.Errorf("credentials returned with the error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", msg, c.is)
			}
			if c.status >= 400 && c.is == nil {
				var re *api.ResponseError
				if !errors.As(err, &re) || re.StatusCode != c.status {
					t.Errorf("error %q does not carry Vault's %d response", msg, c.status)
				}
			}
			for _, secret := range []string{testSecretKey, testSessionToken, testLoginToken, testAccessKey} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q reveals a secret value", msg)
				}
			}
		})
	}
}

func TestRetrieveUsesItsOwnToken(t *testing.T) {
	f := newFakeSecrets(t, http.StatusOK, secretJSON(t, 900, stsData()))
	login := &fakeLogin{ttl: 3600}
	p, vc := newTestProvider(t, f, login, WithParameter("ttl", "15m"), WithParameter("role_arn", "arn:aws:iam::123456789012:role/web"))
	vc.SetNamespace("team-a")
	if _, err := p.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vc.Token() != callerToken {
		t.Errorf("the caller's client token was replaced")
	}
	// The login is unauthenticated: the caller's token is not handed to it.
	if len(login.clientToken) != 1 || login.clientToken[0] != "" {
		t.Errorf("login got a client with a token: %d logins, token set %v", len(login.clientToken), login.clientToken[0] != "")
	}
	reqs := f.requests()
	// One read, with the login's token, and nothing else: in particular no
	// revocation of the token (which would revoke an iam_user lease).
	if len(reqs) != 1 {
		t.Fatalf("requests: %+v", reqs)
	}
	r := reqs[0]
	if r.method != http.MethodGet || r.path != "/v1/aws/sts/web" || r.token != testLoginToken || r.namespace != "team-a" {
		t.Errorf("read: %s %s, login token %v, namespace %q", r.method, r.path, r.token == testLoginToken, r.namespace)
	}
	if r.query.Get("ttl") != "15m" || r.query.Get("role_arn") != "arn:aws:iam::123456789012:role/web" {
		t.Errorf("parameters: %v", r.query)
	}
}

func TestRetrieveStopsAtAFailedLogin(t *testing.T) {
	f := newFakeSecrets(t, http.StatusOK, secretJSON(t, 900, stsData()))
	p, _ := newTestProvider(t, f, &fakeLogin{err: client.ErrLoginRefused})
	_, err := p.Retrieve(context.Background())
	if !errors.Is(err, client.ErrLoginRefused) || !strings.Contains(err.Error(), "logging in to Vault") {
		t.Fatalf("Retrieve after a refused login: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d reads after a failed login", n)
	}
}

func TestExpiryMargin(t *testing.T) {
	cases := []struct {
		name         string
		lease, ttl   int
		margin       time.Duration
		wantExpires  time.Duration
		wantErrorHas string
	}{
		{"margin within the lease", 900, 3600, time.Minute, 840 * time.Second, ""},
		{"margin counted from the token's end", 3600, 600, time.Minute, 540 * time.Second, ""},
		{"credentials shorter than the margin", 60, 3600, 2 * time.Minute, 0, "within the expiry margin of 2m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSecrets(t, http.StatusOK, secretJSON(t, c.lease, stsData()))
			p, _ := newTestProvider(t, f, &fakeLogin{ttl: c.ttl}, WithExpiryMargin(c.margin), WithSource("test-source"))
			creds, err := p.Retrieve(context.Background())
			if c.wantErrorHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrorHas) {
					t.Fatalf("Retrieve: %v, want an error saying %q", err, c.wantErrorHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !creds.Expires.Equal(testStart.Add(c.wantExpires)) || creds.Source != "test-source" {
				t.Errorf("Expires %s, Source %q; want %s", creds.Expires, creds.Source, testStart.Add(c.wantExpires))
			}
		})
	}
}

func TestRetrieveNeedsItsParts(t *testing.T) {
	vc, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := client.NewEntropyAuth(client.WithStateFile(t.TempDir() + "/state.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    *Provider
		want string
	}{
		{"no Vault client", New(nil, auth, "aws/sts/web"), "no Vault client"},
		{"no auth method", New(vc, nil, "aws/sts/web"), "no auth method"},
		{"no path", New(vc, auth, "/"), "no Vault path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.p.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Retrieve: %v, want %q", err, c.want)
			}
		})
	}
	if p := New(vc, auth, "/aws/sts/web/"); p.Path() != "aws/sts/web" {
		t.Errorf("Path() = %q", p.Path())
	}
}

// The provider meets the SDK's cache as documented: the cache calls
// Retrieve once and serves the credentials until they expire.
func TestCredentialsCacheCallsRetrieveOnce(t *testing.T) {
	f := newFakeSecrets(t, http.StatusOK, secretJSON(t, 900, stsData()))
	login := &fakeLogin{ttl: 3600}
	p, _ := newTestProvider(t, f, login)
	p.now = time.Now // the cache compares with the real clock
	cache := aws.NewCredentialsCache(p)
	for range 3 {
		creds, err := cache.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !creds.CanExpire || time.Until(creds.Expires) < 14*time.Minute || creds.SessionToken != testSessionToken {
			t.Fatalf("cached credentials: CanExpire %v, Expires %s", creds.CanExpire, creds.Expires)
		}
	}
	if login.logins != 1 || len(f.requests()) != 1 {
		t.Errorf("%d logins and %d reads for 3 cached Retrieves", login.logins, len(f.requests()))
	}
}

// The read carries the login's token: a redirect to another host is not
// followed (the other host sees nothing), and Vault's error text is made
// safe for a terminal.
func TestRetrieveIsHardened(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
	}))
	defer other.Close()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, err error)
	}{
		{"redirect elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, client.ErrRedirectRefused) {
				t.Fatalf("Retrieve: %v, want ErrRedirectRefused", err)
			}
		}},
		{"escape sequences in Vault's error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":["1 error occurred:\n\t* permission\u001b[2J denied\rOK\n\n"]}`))
		}, func(t *testing.T, err error) {
			if err == nil || strings.ContainsAny(err.Error(), "\x1b\r\n") || !strings.Contains(err.Error(), "permission[2J denied OK") {
				t.Fatalf("Retrieve: %q", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			conf := api.DefaultConfig()
			conf.Address = srv.URL
			conf.MaxRetries = 0
			vc, err := api.NewClient(conf)
			if err != nil {
				t.Fatal(err)
			}
			p := New(vc, nil, "aws/sts/web")
			p.auth = &fakeLogin{ttl: 600}
			_, err = p.Retrieve(context.Background())
			tc.check(t, err)
			if n := otherHits.Load(); n != 0 {
				t.Fatalf("the other host got %d requests", n)
			}
		})
	}
}
