package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client/awscreds"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// The setup, as docs/aws.md shows it.
const (
	region = "us-east-1"
	// accountID is the account of the shim's GetCallerIdentity answer.
	// MinIO has no accounts and ignores AssumeRole's RoleArn; Vault wants
	// role_arns for an assumed_role role all the same.
	accountID = "000000000000"
	roleARN   = "arn:aws:iam::000000000000:role/web"
	roleARN2  = "arn:aws:iam::000000000000:role/web-batch"

	bucket      = "web-data"
	otherBucket = "finance"
	objectKey   = "hello.txt"
	objectBody  = "hello from MinIO"

	// sessionPolicy is the Vault role's policy_document: Vault passes it
	// to AssumeRole as the session policy, and MinIO enforces it, so the
	// credentials may read web-data and nothing else.
	sessionPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::web-data","arn:aws:s3:::web-data/*"]}]}`

	// vaultPolicy is the entropy role's token policy: the web and
	// web-batch AWS roles, not admin.
	vaultPolicy = `path "aws/sts/web" {
  capabilities = ["read", "update"]
}
path "aws/sts/web-batch" {
  capabilities = ["read", "update"]
}
`
	// tokenTTL is shorter than the STS lease (default_sts_ttl 15m), so
	// the credentials' expiry is the token's.
	tokenTTL = 10 * time.Minute
)

type env struct {
	s     *harness.Server
	m     *harness.MinIO
	shim  *stsShim
	state string
	cli   string
	dir   string
}

func setup(t *testing.T) *env {
	t.Helper()
	harness.Integration(t)
	ctx := context.Background()
	e := &env{dir: t.TempDir()}
	e.m = harness.StartMinIO(t)
	e.shim = startSTSShim(t, e.m.Addr, e.m.RootUser)

	// The buckets, with MinIO's root credentials.
	admin := s3Client(aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(e.m.RootUser, e.m.RootPassword, "")}, e.m.Addr)
	for _, b := range []string{bucket, otherBucket} {
		if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("creating bucket %s: %v", b, err)
		}
		if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(objectKey), Body: strings.NewReader(objectBody)}); err != nil {
			t.Fatalf("putting %s/%s: %v", b, objectKey, err)
		}
	}

	e.s = harness.StartServer(t)
	e.s.EnablePlugin(t)
	_, e.cli = harness.Binaries(t)
	if err := e.s.Client.Sys().Mount("aws", &api.MountInput{Type: "aws"}); err != nil {
		t.Fatal(err)
	}
	e.s.Write(t, "aws/config/root", map[string]interface{}{
		"access_key": e.m.RootUser, "secret_key": e.m.RootPassword, "region": region,
		"sts_endpoint": e.shim.srv.URL, "sts_region": region, "iam_endpoint": e.m.Addr,
	})
	e.s.Write(t, "aws/roles/web", map[string]interface{}{
		"credential_type": "assumed_role", "role_arns": roleARN, "policy_document": sessionPolicy,
		"default_sts_ttl": "15m", "max_sts_ttl": "1h",
	})
	e.s.Write(t, "aws/roles/web-batch", map[string]interface{}{
		"credential_type": "assumed_role", "role_arns": roleARN + "," + roleARN2, "policy_document": sessionPolicy,
		"default_sts_ttl": "15m",
	})
	e.s.Write(t, "aws/roles/admin", map[string]interface{}{"credential_type": "assumed_role", "role_arns": roleARN})
	if err := e.s.Client.Sys().PutPolicy("aws-web", vaultPolicy); err != nil {
		t.Fatal(err)
	}
	e.s.Write(t, "auth/entropy/role/web", map[string]interface{}{
		"token_policies": "aws-web", "token_ttl": tokenTTL.String(), "token_max_ttl": tokenTTL.String(),
	})
	e.state = e.s.Enroll(t, "auth/entropy", "web", "agent-1")

	// Nothing of this machine's AWS setup may stand in for what the test
	// configures, and the SDK must never ask an instance metadata service.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "VAULT_TOKEN", "VAULT_NAMESPACE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(e.dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(e.dir, "no-credentials"))
	t.Setenv("VAULT_ADDR", e.s.Addr)
	return e
}

// vaultClient is a Vault client for the server, without a token.
func (e *env) vaultClient(t *testing.T) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = e.s.Addr
	vc, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	vc.ClearToken()
	return vc
}

func TestAWSCredentials(t *testing.T) {
	start := time.Now()
	e := setup(t)
	t.Logf("setup (MinIO, Vault, plugin, AWS engine, enrollment) took %s", time.Since(start).Round(time.Millisecond))

	t.Run("credential_process profile run by the SDK", func(t *testing.T) {
		ctx := context.Background()
		cfgPath := filepath.Join(e.dir, "aws-config")
		profiles := fmt.Sprintf(`[profile web]
region = %[1]s
credential_process = %[2]s aws-credential-process -path aws/sts/web -state %[3]s

[profile web-address]
region = %[1]s
credential_process = %[2]s aws-credential-process -path aws/sts/web -state %[3]s -address %[4]s

[profile forbidden]
region = %[1]s
credential_process = %[2]s aws-credential-process -path aws/sts/admin -state %[3]s
`, region, e.cli, e.state, e.s.Addr)
		if err := os.WriteFile(cfgPath, []byte(profiles), 0o600); err != nil {
			t.Fatal(err)
		}
		load := func(profile string) aws.Config {
			cfg, err := config.LoadDefaultConfig(ctx,
				config.WithSharedConfigFiles([]string{cfgPath}),
				config.WithSharedCredentialsFiles([]string{filepath.Join(e.dir, "no-credentials")}),
				config.WithSharedConfigProfile(profile))
			if err != nil {
				t.Fatalf("loading profile %s: %v", profile, err)
			}
			return cfg
		}
		for _, c := range []struct{ profile, vaultAddr string }{
			{"web", e.s.Addr},
			// The profile names Vault itself: nothing in the environment.
			{"web-address", ""},
		} {
			t.Run(c.profile, func(t *testing.T) {
				t.Setenv("VAULT_ADDR", c.vaultAddr)
				cfg := load(c.profile)
				before := time.Now()
				creds, err := cfg.Credentials.Retrieve(ctx)
				if err != nil {
					t.Fatalf("the SDK running credential_process: %v", err)
				}
				if creds.Source != processcreds.ProviderName || creds.SessionToken == "" {
					t.Fatalf("credentials from %q, session token set %v", creds.Source, creds.SessionToken != "")
				}
				checkExpiry(t, creds, before)
				checkAccess(t, s3Client(cfg, e.m.Addr))
			})
		}
		t.Run("forbidden path", func(t *testing.T) {
			_, err := load("forbidden").Credentials.Retrieve(ctx)
			if err == nil || !strings.Contains(err.Error(), "error in credential_process: exit status 1") {
				t.Fatalf("credential_process for a path the policy does not allow: %v", err)
			}
		})
		if e.shim.identityCalls.Load() == 0 || e.shim.forwarded.Load() == 0 {
			t.Errorf("the STS shim answered %d GetCallerIdentity and forwarded %d requests to MinIO", e.shim.identityCalls.Load(), e.shim.forwarded.Load())
		}
	})

	t.Run("Go provider in a credentials cache", func(t *testing.T) {
		ctx := context.Background()
		vc := e.vaultClient(t)
		vc.SetToken(e.s.RootToken)
		auth, err := client.NewEntropyAuth(client.WithStateFile(e.state))
		if err != nil {
			t.Fatal(err)
		}
		cache := aws.NewCredentialsCache(awscreds.New(vc, auth, "aws/sts/web"))
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithCredentialsProvider(cache))
		if err != nil {
			t.Fatal(err)
		}
		s3c := s3Client(cfg, e.m.Addr)
		before := time.Now()
		checkAccess(t, s3c)
		creds, err := cache.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if creds.Source != awscreds.ProviderName || creds.SessionToken == "" {
			t.Fatalf("credentials from %q, session token set %v", creds.Source, creds.SessionToken != "")
		}
		checkExpiry(t, creds, before)
		if vc.Token() != e.s.RootToken {
			t.Error("the provider replaced the token of the client it was given")
		}

		// Rotation stays transparent: Vault hands the next generation to
		// the next login, the one after proves it, and the provider's
		// callers see only working credentials.
		s0, err := client.LoadState(e.state)
		if err != nil {
			t.Fatal(err)
		}
		e.s.Write(t, "auth/entropy/role/web/client/agent-1/rotate", nil)
		for range 2 {
			cache.Invalidate()
			checkAccess(t, s3c)
		}
		s1, err := client.LoadState(e.state)
		if err != nil {
			t.Fatal(err)
		}
		if s1.Generation != s0.Generation+1 || s1.Pending != nil {
			t.Fatalf("after a forced rotation and two logins: generation %d -> %d, pending %v", s0.Generation, s1.Generation, s1.Pending != nil)
		}
		rec, err := e.s.Client.Logical().Read("auth/entropy/role/web/client/agent-1")
		if err != nil || rec == nil {
			t.Fatalf("reading the client record: %v", err)
		}
		if g, ok := rec.Data["generation"].(json.Number); !ok || g.String() != fmt.Sprint(s1.Generation) {
			t.Fatalf("Vault's client record is at generation %v, the state file at %d", rec.Data["generation"], s1.Generation)
		}
	})

	t.Run("path the policy does not allow", func(t *testing.T) {
		out, err := e.s.CLI(t, nil, "", "aws-credential-process", "-path", "aws/sts/admin", "-state", e.state)
		if err == nil || out != "" || !strings.Contains(err.Error(), "Vault refused to read aws/sts/admin (403)") ||
			!strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("aws-credential-process -path aws/sts/admin: stdout %d bytes, stderr %v", len(out), err)
		}
		vc := e.vaultClient(t)
		auth, err := client.NewEntropyAuth(client.WithStateFile(e.state))
		if err != nil {
			t.Fatal(err)
		}
		creds, err := awscreds.New(vc, auth, "aws/sts/admin").Retrieve(context.Background())
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || creds.AccessKeyID != "" {
			t.Fatalf("provider for aws/sts/admin: %v", err)
		}
	})

	t.Run("role_arn when the Vault role has several", func(t *testing.T) {
		out, err := e.s.CLI(t, nil, "", "aws-credential-process", "-path", "aws/sts/web-batch", "-state", e.state)
		if err == nil || out != "" || !strings.Contains(err.Error(), "did not supply a role_arn parameter") {
			t.Fatalf("without -role-arn: stdout %d bytes, stderr %v", len(out), err)
		}
		out, err = e.s.CLI(t, nil, "", "aws-credential-process", "-path", "aws/sts/web-batch", "-state", e.state, "-role-arn", roleARN2, "-ttl", "20m")
		if err != nil {
			t.Fatalf("with -role-arn: %v", err)
		}
		var p processcreds.CredentialProcessResponse
		if err := json.Unmarshal([]byte(out), &p); err != nil || p.Version != 1 || p.SessionToken == "" || p.Expiration == nil {
			t.Fatalf("output is not credential_process JSON: %v", err)
		}
		cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken)}
		checkAccess(t, s3Client(cfg, e.m.Addr))
	})

	// What MinIO cannot stand in for, checked so that the day a new MinIO
	// or Vault changes it, this test says so (docs/aws.md lists both).
	t.Run("limits of MinIO", func(t *testing.T) {
		// MinIO has no GetCallerIdentity (the shim above answers it)...
		stsc := sts.NewFromConfig(aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(e.m.RootUser, e.m.RootPassword, "")},
			func(o *sts.Options) { o.BaseEndpoint = aws.String(e.m.Addr) })
		_, err := stsc.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if err == nil || !strings.Contains(err.Error(), "Unsupported action GetCallerIdentity") {
			t.Errorf("GetCallerIdentity straight at MinIO: %v", err)
		}
		// ...so, straight at MinIO, Vault's STS client check fails.
		if err := e.s.Client.Sys().Mount("aws-direct", &api.MountInput{Type: "aws"}); err != nil {
			t.Fatal(err)
		}
		e.s.Write(t, "aws-direct/config/root", map[string]interface{}{
			"access_key": e.m.RootUser, "secret_key": e.m.RootPassword, "region": region,
			"sts_endpoint": e.m.Addr, "sts_region": region, "iam_endpoint": e.m.Addr,
		})
		e.s.Write(t, "aws-direct/roles/web", map[string]interface{}{"credential_type": "assumed_role", "role_arns": roleARN})
		_, err = e.s.Client.Logical().Read("aws-direct/sts/web")
		if err == nil || !strings.Contains(err.Error(), "could not obtain sts client") {
			t.Errorf("Vault's AWS engine straight at MinIO's STS: %v", err)
		}
		t.Logf("aws/sts straight at MinIO: %v", oneLine(err))
		// iam_user needs the IAM API (CreateUser, CreateAccessKey), which
		// MinIO does not serve.
		e.s.Write(t, "aws-direct/roles/user", map[string]interface{}{"credential_type": "iam_user", "policy_document": sessionPolicy})
		_, err = e.s.Client.Logical().Read("aws-direct/creds/user")
		if err == nil || !strings.Contains(err.Error(), "Error creating IAM user") {
			t.Errorf("Vault's AWS engine making an IAM user in MinIO: %v", err)
		}
		t.Logf("aws/creds (iam_user) against MinIO: %v", oneLine(err))
	})

	t.Run("bad state file", func(t *testing.T) {
		corrupt := filepath.Join(e.dir, "corrupt.json")
		if err := os.WriteFile(corrupt, []byte(`{"version": 1, "entropy": "not base64`), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, state, want string }{
			{"missing", filepath.Join(e.dir, "missing.json"), `Run "vault-entropy bootstrap" first`},
			{"corrupt", corrupt, "Restore it from a backup or enroll the client again"},
		} {
			t.Run(c.name, func(t *testing.T) {
				out, err := e.s.CLI(t, nil, "", "aws-credential-process", "-path", "aws/sts/web", "-state", c.state)
				if err == nil || out != "" || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("stdout %d bytes, stderr %v", len(out), err)
				}
			})
		}
		vc := e.vaultClient(t)
		auth, err := client.NewEntropyAuth(client.WithStateFile(filepath.Join(e.dir, "missing.json")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := awscreds.New(vc, auth, "aws/sts/web").Retrieve(context.Background()); !errors.Is(err, client.ErrNoState) {
			t.Fatalf("provider with no state file: %v", err)
		}
	})
}

// docs/aws.md shows the policies and roles this test configures, word for
// word. It needs no server, so it runs without ENTROPY_INTEGRATION too.
func TestDocShowsWhatIsTested(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "docs", "aws.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		sessionPolicy,
		vaultPolicy,
		"credential_type=assumed_role",
		"default_sts_ttl=15m max_sts_ttl=1h",
		"credential_process = /usr/local/bin/vault-entropy aws-credential-process -path aws/sts/web -state /var/lib/web/vault-entropy.json\n",
		"Vault refused to read aws/sts/admin (403): permission denied",
		"could not obtain sts client",
		"Error creating IAM user: MissingParameter: Invalid STS API version",
		"Unsupported action GetCallerIdentity",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/aws.md does not show %q", want)
		}
	}
}
