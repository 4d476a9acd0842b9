package client_test

import (
	"context"
	"log"
	"os"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// A workload logs in and reads a secret. Login proves the client's entropy,
// checks the server's receipt and stores what it brings (a new entropy
// generation, new server keys) in the state file, under a lock that other
// processes using the same file respect.
func ExampleNewEntropyAuth() {
	ctx := context.Background()
	vc, err := api.NewClient(api.DefaultConfig()) // VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE...
	if err != nil {
		log.Fatal(err)
	}
	auth, err := client.NewEntropyAuth(
		client.WithStateFile("/var/lib/myapp/vault-entropy.json"),
		client.WithMountPath("auth/entropy"),
	)
	if err != nil {
		log.Fatal(err)
	}
	secret, err := vc.Auth().Login(ctx, auth) // sets vc's token
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("logged in, token accessor %s", secret.Auth.Accessor)

	kv, err := vc.KVv2("secret").Get(ctx, "web/config")
	if err != nil {
		log.Fatal(err)
	}
	_ = kv.Data["password"]
}

// Enrollment hands the workload a response-wrapped bundle; unwrapping it
// once gives the client state, saved 0600.
func ExampleUnwrap() {
	ctx := context.Background()
	vc, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	state, err := client.Unwrap(ctx, vc, os.Getenv("ENROLLMENT_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	if err := state.Save("/var/lib/myapp/vault-entropy.json"); err != nil {
		log.Fatal(err)
	}
}
