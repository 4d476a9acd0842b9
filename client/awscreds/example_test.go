package awscreds_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client/awscreds"
)

// A workload lists a bucket with AWS credentials from Vault's AWS secrets
// engine. The cache calls the provider only when the credentials it holds
// are about to expire; each call logs in to Vault with the entropy auth
// method (rotating the entropy when Vault says so) and reads aws/sts/web.
// docs/aws.md shows this program whole; a test keeps the two the same.
func ExampleNew() {
	ctx := context.Background()
	vc, err := api.NewClient(api.DefaultConfig()) // VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE...
	if err != nil {
		log.Fatal(err)
	}
	auth, err := client.NewEntropyAuth(client.WithStateFile("/var/lib/myapp/vault-entropy.json"))
	if err != nil {
		log.Fatal(err)
	}
	provider := awscreds.New(vc, auth, "aws/sts/web", awscreds.WithParameter("ttl", "1h"))
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = 5 * time.Minute // renew 5 minutes before the credentials expire
		})),
	)
	if err != nil {
		log.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg)
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("my-bucket")})
	if err != nil {
		log.Fatal(err)
	}
	for _, obj := range out.Contents {
		fmt.Println(aws.ToString(obj.Key))
	}
}
