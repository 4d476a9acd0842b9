package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

const (
	awsTestSecretKey = "aws-secret-key-must-not-leak"
	awsTestToken     = "aws-session-token-must-not-leak"
)

// awsVault is a testVault (the auth method's login, with receipts and
// rotation) with an AWS secrets engine in front of it: reads of /v1/aws/
// are answered here, everything else by the testVault.
type awsVault struct {
	*testVault
	front *httptest.Server

	mu     sync.Mutex
	status int
	body   string
	reads  []awsRead
}

type awsRead struct {
	path, token string
	query       url.Values
}

func newAWSVault(t *testing.T) (*awsVault, string) {
	t.Helper()
	v, state := newTestVault(t, false)
	a := &awsVault{testVault: v, status: http.StatusOK}
	a.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/aws/") {
			v.serve(w, r)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reads = append(a.reads, awsRead{r.Method + " " + r.URL.Path, r.Header.Get("X-Vault-Token"), r.URL.Query()})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(a.front.Close)
	t.Setenv("VAULT_ADDR", a.front.URL)
	return a, state
}

func (a *awsVault) answer(t *testing.T, status int, lease int, data map[string]interface{}) {
	t.Helper()
	b, err := json.Marshal(map[string]interface{}{"lease_id": "aws/sts/web/x", "lease_duration": lease, "data": data})
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.body = status, string(b)
}

func TestAWSCredentialProcessPrintsTheJSON(t *testing.T) {
	a, state := newAWSVault(t)
	a.answer(t, http.StatusOK, 900, map[string]interface{}{
		"access_key": "AKIATEST", "secret_key": awsTestSecretKey,
		"security_token": awsTestToken, "session_token": awsTestToken, "arn": "", "ttl": 899,
	})
	before := time.Now()
	r := runCLI(t, "", "aws-credential-process", "-path", "aws/sts/web", "-state", state, "-ttl", "15m", "-role-arn", "arn:aws:iam::123456789012:role/web")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("aws-credential-process: code %d, stderr %q", r.code, r.stderr)
	}
	// Exactly these keys, as credential_process specifies them.
	var raw map[string]interface{}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	if len(raw) != 5 || raw["Version"] != float64(1) || raw["AccessKeyId"] != "AKIATEST" ||
		raw["SecretAccessKey"] != awsTestSecretKey || raw["SessionToken"] != awsTestToken {
		t.Fatalf("keys %v: Version %v, AccessKeyId %v", keys, raw["Version"], raw["AccessKeyId"])
	}
	exp, err := time.Parse(time.RFC3339, raw["Expiration"].(string))
	if err != nil || !strings.HasSuffix(raw["Expiration"].(string), "Z") {
		t.Fatalf("Expiration %q is not RFC 3339 in UTC: %v", raw["Expiration"], err)
	}
	// The lease is 900 s, counted from before the login; RFC 3339 drops
	// the fraction of a second.
	if exp.Before(before.Add(900*time.Second).Add(-time.Second)) || exp.After(time.Now().Add(900*time.Second)) {
		t.Errorf("Expiration %s, want about %s", exp, before.Add(900*time.Second))
	}
	// The AWS SDK's own parser takes it.
	var sdk processcreds.CredentialProcessResponse
	if err := json.Unmarshal([]byte(r.stdout), &sdk); err != nil || sdk.Version != 1 || sdk.Expiration == nil || !sdk.Expiration.Equal(exp) {
		t.Fatalf("processcreds parse: %v, version %d", err, sdk.Version)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reads) != 1 {
		t.Fatalf("%d reads", len(a.reads))
	}
	rd := a.reads[0]
	if rd.path != "GET /v1/aws/sts/web" || rd.token != "hvs.from-login" || rd.query.Get("ttl") != "15m" ||
		rd.query.Get("role_arn") != "arn:aws:iam::123456789012:role/web" {
		t.Errorf("read %s with the login's token %v, query %v", rd.path, rd.token == "hvs.from-login", rd.query)
	}
	// The login went through the library: the receipt's rotation is stored.
	if s, err := client.LoadState(state); err != nil || s.Pending == nil {
		t.Errorf("state after the login: %v, %v", s, err)
	}
}

func TestAWSCredentialProcessIAMUserKeys(t *testing.T) {
	a, state := newAWSVault(t)
	// An iam_user secret: no session token, an expiry.
	a.answer(t, http.StatusOK, 3600, map[string]interface{}{"access_key": "AKIATEST", "secret_key": awsTestSecretKey, "session_token": nil})
	r := runCLI(t, "", "aws-credential-process", "-path", "aws/creds/web", "-state", state)
	if r.code != 0 {
		t.Fatalf("aws-credential-process: %d %q", r.code, r.stderr)
	}
	var out map[string]interface{}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["SessionToken"] != nil || out["Expiration"] == nil {
		t.Fatalf("stdout is not iam_user credentials with an expiry (%d bytes): %v", len(r.stdout), err)
	}
}

// Credentials without any expiry (no lease, a token without TTL, as the
// test Vault's tokens are) are never printed: the SDKs would use them for
// ever. Huge leases print an expiry, not an overflow into the past.
func TestAWSCredentialProcessExpiry(t *testing.T) {
	data := map[string]interface{}{"access_key": "AKIATEST", "secret_key": awsTestSecretKey, "session_token": nil}
	for _, tc := range []struct {
		name  string
		lease int
		ok    bool
	}{
		{"no lease, token without TTL", 0, false},
		{"lease 1<<62", 1 << 62, true},
		{"lease MaxInt64", math.MaxInt64, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, state := newAWSVault(t)
			a.answer(t, http.StatusOK, tc.lease, data)
			r := runCLI(t, "", "aws-credential-process", "-path", "aws/creds/web", "-state", state)
			if !tc.ok {
				if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no expiry") {
					t.Fatalf("want exit 1, nothing on stdout and an error naming the expiry: %d %q (%d bytes out)", r.code, r.stderr, len(r.stdout))
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("aws-credential-process: %d %q", r.code, r.stderr)
			}
			var out struct{ Expiration time.Time }
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.Expiration.After(time.Now().AddDate(200, 0, 0)) {
				t.Fatalf("Expiration %s, %v: want the longest expiry, not an overflow", out.Expiration, err)
			}
		})
	}
}

func TestAWSCredentialProcessFailsQuietlyOnStdout(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		status int
		data   map[string]interface{}
		state  string // "" = the enrolled state
		args   []string
		want   string
	}{
		{"policy does not allow the path", http.StatusForbidden, nil, "", []string{"-path", "aws/sts/other"},
			"Vault refused to read aws/sts/other (403): permission denied (the policies of the entropy role's tokens do not allow reading this path)"},
		{"not AWS credentials", http.StatusOK, map[string]interface{}{"password": awsTestSecretKey}, "", []string{"-path", "aws/sts/web"},
			`has no "access_key" field`},
		{"non-string secret key", http.StatusOK, map[string]interface{}{"access_key": "AKIATEST", "secret_key": 7}, "", []string{"-path", "aws/sts/web"},
			`field "secret_key" is a number, not a string`},
		{"no state file", http.StatusOK, nil, filepath.Join(dir, "missing.json"), []string{"-path", "aws/sts/web"},
			`Run "vault-entropy bootstrap" first`},
		{"corrupt state file", http.StatusOK, nil, corrupt, []string{"-path", "aws/sts/web"},
			"Restore it from a backup or enroll the client again"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, state := newAWSVault(t)
			if c.status == http.StatusForbidden {
				a.mu.Lock()
				a.status, a.body = c.status, `{"errors":["permission denied"]}`
				a.mu.Unlock()
			} else if c.data != nil {
				a.answer(t, c.status, 900, c.data)
			}
			if c.state != "" {
				state = c.state
			}
			r := runCLI(t, "", append([]string{"aws-credential-process", "-state", state}, c.args...)...)
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("code %d, stdout %d bytes, stderr %q; want code 1, no stdout, %q", r.code, len(r.stdout), r.stderr, c.want)
			}
			if strings.Contains(r.stderr, awsTestSecretKey) || strings.Contains(r.stderr, "hvs.") {
				t.Errorf("stderr reveals a secret: %q", r.stderr)
			}
		})
	}
}

func TestAWSCredentialProcessLoginRefused(t *testing.T) {
	a, _ := newAWSVault(t)
	a.answer(t, http.StatusOK, 900, map[string]interface{}{"access_key": "AKIATEST", "secret_key": awsTestSecretKey})
	// Another client's state: the fake Vault cannot open its proofs.
	other := bootstrapped(t)
	r := runCLI(t, "", "aws-credential-process", "-path", "aws/sts/web", "-state", other)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "Vault refused the login") {
		t.Fatalf("code %d, stdout %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reads) != 0 {
		t.Errorf("%d reads after a refused login", len(a.reads))
	}
}

// -address names Vault in the profile itself, over VAULT_ADDR, and error
// messages name that address.
func TestAWSCredentialProcessAddress(t *testing.T) {
	a, state := newAWSVault(t)
	a.answer(t, http.StatusOK, 900, map[string]interface{}{"access_key": "AKIATEST", "secret_key": awsTestSecretKey})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	t.Setenv("VAULT_ADDR", closed.URL)
	r := runCLI(t, "", "aws-credential-process", "-path", "aws/sts/web", "-state", state, "-address", a.front.URL)
	if r.code != 0 || !strings.Contains(r.stdout, `"AccessKeyId":"AKIATEST"`) {
		t.Fatalf("with -address: code %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("VAULT_ADDR", a.front.URL)
	r = runCLI(t, "", "aws-credential-process", "-path", "aws/sts/web", "-state", state, "-address", closed.URL)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "cannot reach Vault at "+closed.URL) {
		t.Fatalf("-address of a closed port: code %d, stdout %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
}

func TestAWSCredentialProcessFlags(t *testing.T) {
	state := bootstrapped(t)
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"no -path", []string{"-state", state}, 2, "-path is required"},
		{"empty -path", []string{"-state", state, "-path", ""}, 2, "-path is required"},
		{"bad -ttl", []string{"-state", state, "-path", "aws/sts/web", "-ttl", "fortnight"}, 2, `-ttl "fortnight" is not a positive duration`},
		{"negative -ttl", []string{"-state", state, "-path", "aws/sts/web", "-ttl", "-5m"}, 2, `-ttl "-5m" is not a positive duration`},
		{"-ttl overflowing", []string{"-state", state, "-path", "aws/sts/web", "-ttl", "9223372036854775807"}, 2, `is not a positive duration`},
		{"unknown flag", []string{"-path", "aws/sts/web", "-region", "us-east-1"}, 2, "flag provided but not defined: -region"},
		{"stray argument", []string{"-path", "aws/sts/web", "aws/sts/other"}, 2, "unexpected arguments"},
		{"help", []string{"-h"}, 0, "credential_process = /usr/local/bin/vault-entropy aws-credential-process -path aws/sts/web"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"aws-credential-process"}, c.args...)...)
			if r.code != c.code || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("code %d (want %d), stdout %q, stderr %q (want %q)", r.code, c.code, r.stdout, r.stderr, c.want)
			}
		})
	}
	// The command is listed in the usage.
	if r := runCLI(t, "", "help"); !strings.Contains(r.stderr, "aws-credential-process") {
		t.Errorf("usage does not list aws-credential-process")
	}
}

// The output's field names and omissions, whatever the source.
func TestCredentialProcessJSONShape(t *testing.T) {
	var buf bytes.Buffer
	exp := time.Date(2026, 3, 1, 12, 15, 0, 999_000_000, time.FixedZone("CET", 3600))
	b, err := credentialProcessJSON(aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "ST", CanExpire: true, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(b)
	if want := `{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SK","SessionToken":"ST","Expiration":"2026-03-01T11:15:00Z"}` + "\n"; buf.String() != want {
		t.Errorf("got %s want %s", buf.String(), want)
	}
	b, err = credentialProcessJSON(aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", CanExpire: true, Expires: exp})
	if want := `{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SK","Expiration":"2026-03-01T11:15:00Z"}` + "\n"; err != nil || string(b) != want {
		t.Errorf("got %s, %v want %s", b, err, want)
	}
	// Never without an expiry.
	if b, err := credentialProcessJSON(aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}); err == nil || b != nil {
		t.Errorf("credentials without expiry printed: %s", b)
	}
}
