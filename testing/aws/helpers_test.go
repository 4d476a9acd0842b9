package aws

// Helpers of TestAWSCredentials (aws_test.go): the S3 client and the checks
// on what the credentials may read and when they end.

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// oneLine is err's message on one line, for the test log.
func oneLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// s3Client is an S3 client for MinIO at addr (path-style bucket names).
func s3Client(cfg aws.Config, addr string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(addr)
		o.UsePathStyle = true
		// MinIO sends no checksum with these small objects; the SDK
		// would log that it skipped the check.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// listBucket lists bucket and returns its keys.
func listBucket(ctx context.Context, c *s3.Client, b string) ([]string, error) {
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

// checkAccess lists web-data (which must hold hello.txt), reads the object,
// and is refused otherBucket by the session policy.
func checkAccess(t *testing.T, c *s3.Client) {
	t.Helper()
	ctx := context.Background()
	keys, err := listBucket(ctx, c, bucket)
	if err != nil || !slices.Equal(keys, []string{objectKey}) {
		t.Fatalf("listing %s: %v, keys %v", bucket, err, keys)
	}
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKey)})
	if err != nil {
		t.Fatalf("reading %s/%s: %v", bucket, objectKey, err)
	}
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || string(body) != objectBody {
		t.Fatalf("%s/%s: %q, %v", bucket, objectKey, body, err)
	}
	_, err = listBucket(ctx, c, otherBucket)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("listing %s, which the session policy does not allow: %v", otherBucket, err)
	}
}

// checkExpiry: the credentials expire with the Vault token (tokenTTL after
// the login), before the 15-minute STS lease.
func checkExpiry(t *testing.T, creds aws.Credentials, before time.Time) {
	t.Helper()
	if !creds.CanExpire {
		t.Fatal("the credentials cannot expire")
	}
	// RFC 3339 in credential_process drops the fraction of a second.
	if creds.Expires.Before(before.Add(tokenTTL).Add(-2*time.Second)) || creds.Expires.After(time.Now().Add(tokenTTL)) {
		t.Fatalf("credentials expire at %s; want the token's end, about %s", creds.Expires, before.Add(tokenTTL))
	}
}
