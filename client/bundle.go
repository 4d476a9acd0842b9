package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/api"
)

// bundleVersion is the enrollment bundle layout this package reads.
const bundleVersion = 1

// bundle is the data of an enrollment response (role/<name>/enroll):
// the client's state, with challenge_required set from its role.
type bundle struct {
	BundleVersion int `json:"bundle_version"`
	State
}

// StateFromBundle turns the data of an enrollment response into client
// state. It accepts the data object itself, or the whole response as
// `vault write -format=json` prints it (with the bundle under "data").
func StateFromBundle(raw []byte) (*State, error) {
	var outer struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		return nil, fmt.Errorf("bundle is not JSON: %w", err)
	}
	if len(outer.Data) > 0 && string(outer.Data) != "null" {
		raw = outer.Data
	}
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("bundle is malformed: %w", err)
	}
	if b.BundleVersion != bundleVersion {
		return nil, fmt.Errorf("bundle_version %d is not supported (want %d)", b.BundleVersion, bundleVersion)
	}
	s := b.State
	s.Version = stateVersion
	// A new client starts at its first generation; a bundle never carries
	// a pending one, and a stray field must not plant one.
	s.Pending = nil
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("bundle is incomplete: %w", err)
	}
	return &s, nil
}

// ErrWrappingToken: the wrapping token was not made by an enrollment
// endpoint. Someone may have swapped it for one of their own, made with
// sys/wrapping/wrap around a bundle they chose (a copy of another client's
// state, or their own server keys); nothing is written.
var ErrWrappingToken = errors.New("the wrapping token was not made by an enrollment endpoint (auth/<mount>/role/<role>/enroll): it may have been swapped")

// Unwrap redeems a response-wrapping token holding an enrollment bundle and
// returns the client state it holds. The token is single-use: once
// unwrapped, nobody else can read the bundle, and an unwrap that fails
// because someone else already did is a sign of interception.
//
// Before unwrapping it looks the token up (sys/wrapping/lookup): its
// creation_path must be an enroll endpoint, auth/<mount>/role/<role>/enroll,
// and the bundle it holds must be for that mount and role. Anyone who can
// call sys/wrapping/wrap can wrap any data; only Vault's enroll endpoint
// makes a token with that creation path.
func Unwrap(ctx context.Context, c *api.Client, wrappingToken string) (*State, error) {
	if wrappingToken == "" {
		return nil, errors.New("empty wrapping token")
	}
	// A client of its own, hardened, whose only token is the wrapping
	// token.
	uc, err := Harden(c)
	if err != nil {
		return nil, err
	}
	uc.ClearToken()
	info, err := uc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]interface{}{"token": wrappingToken})
	if err != nil {
		return nil, fmt.Errorf("looking up the wrapping token: %w", err)
	}
	var creationPath string
	if info != nil {
		creationPath, _ = info.Data["creation_path"].(string)
	}
	// Within a namespace the path may start with it: only the namespace
	// this client talks to is taken off. (Anything else before "auth/"
	// would be a secrets engine's path, such as a KV read of a bundle
	// stored under secret/auth/.../enroll.)
	path := creationPath
	if ns := strings.Trim(c.Headers().Get(api.NamespaceHeaderName), "/"); ns != "" {
		path = strings.TrimPrefix(path, ns+"/")
	}
	if !enrollPath.MatchString(path) {
		return nil, fmt.Errorf("%w (its creation_path is %q)", ErrWrappingToken, SanitizeText(creationPath))
	}
	uc.SetToken(wrappingToken)
	secret, err := uc.Logical().UnwrapWithContext(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("unwrapping the enrollment bundle: %w", err)
	}
	if secret == nil || secret.Data == nil {
		return nil, errors.New("the wrapping token held no data")
	}
	raw, err := json.Marshal(secret.Data)
	if err != nil {
		return nil, err
	}
	s, err := StateFromBundle(raw)
	if err != nil {
		return nil, err
	}
	// A bundle from the deploy pipeline's issue endpoint names the client
	// it was issued for in its path too.
	enrolled, issued := s.MountPath+"/role/"+s.Role+"/enroll", s.MountPath+"/role/"+s.Role+"/client/"+s.ClientID+"/issue"
	if path != enrolled && path != issued {
		return nil, fmt.Errorf("%w (it was made at %q, and holds a bundle for %s)", ErrWrappingToken, SanitizeText(creationPath), enrolled)
	}
	return s, nil
}

// enrollPath is the creation_path of a token made by an enroll endpoint,
// auth/<mount>/role/<role>/enroll, or by the endpoint that issues a
// client's next generation to a deploy pipeline,
// auth/<mount>/role/<role>/client/<client_id>/issue. Only auth methods
// mount under auth/.
var enrollPath = regexp.MustCompile(`^auth/.+/role/[^/]+/(enroll|client/[^/]+/issue)$`)
