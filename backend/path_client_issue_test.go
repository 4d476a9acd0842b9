package backend

import (
	"bytes"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const issuePath = "role/web/client/agent-1/issue"

// issue asks for the client's next generation as the deploy pipeline does,
// response-wrapped, and returns the response.
func issue(t *testing.T, b *entropyBackend, s logical.Storage, path string) *logical.Response {
	t.Helper()
	resp, err := b.HandleRequest(t.Context(), &logical.Request{
		Operation: logical.UpdateOperation, Path: path, Storage: s, MountPoint: "auth/entropy/",
		WrapInfo: &logical.RequestWrapInfo{TTL: 5 * time.Minute},
	})
	if err != nil || resp == nil || resp.IsError() {
		t.Fatalf("issue %s: %s", path, outcome(resp, err))
	}
	return resp
}

// deployment is the read-only copy of a client that a bundle makes: it
// proves the bundle's generation and keeps nothing a receipt brings.
func deployment(t *testing.T, a *rotatingClient, resp *logical.Response) *rotatingClient {
	t.Helper()
	return &rotatingClient{testClient: bundleClient(t, resp), clock: a.clock, logs: a.logs}
}

func TestIssueGivesTheNextGenerationInTheEnrollmentFormat(t *testing.T) {
	b, s, a := setupRotation(t, nil)
	enrolled := mustOK(t, b, s, logical.UpdateOperation, "role/web/enroll", map[string]interface{}{"client_id": "other"})
	before := readClient(t, b, s, "web", "agent-1")
	aliasBefore := a.copy()
	firstLogin, err, _, _ := aliasBefore.attempt(t, b, s)
	if err != nil {
		t.Fatal(err)
	}

	resp := issue(t, b, s, issuePath)
	if len(resp.Warnings) != 0 {
		t.Errorf("a wrapped issue warns: %v", resp.Warnings)
	}
	if got, want := slices.Sorted(maps.Keys(resp.Data)), slices.Sorted(maps.Keys(enrolled.Data)); !slices.Equal(got, want) {
		t.Fatalf("bundle fields %v, enrollment's %v", got, want)
	}
	if resp.Data["bundle_version"] != bundleVersion || resp.Data["mount_path"] != "auth/entropy" || resp.Data["client_id"] != "agent-1" || resp.Data["generation"] != uint64(2) {
		t.Fatalf("bundle %v", resp.Data)
	}
	next := deployment(t, a, resp)
	if bytes.Equal(next.entropy, a.entropy) || len(next.entropy) != len(a.entropy) {
		t.Fatalf("entropy of generation 2: %d bytes, equal to generation 1: %v", len(next.entropy), bytes.Equal(next.entropy, a.entropy))
	}

	rec := readClient(t, b, s, "web", "agent-1")
	if rec.Generation != 1 || rec.PendingGeneration != 2 || !rec.PendingOutOfBand ||
		rec.EnrollmentID != before.EnrollmentID || rec.AliasName != before.AliasName || rec.CreatedAt != before.CreatedAt {
		t.Fatalf("record after issue: %+v", rec)
	}
	logged := a.logs.String()
	if !strings.Contains(logged, "entropy generation issued out of band") ||
		strings.Contains(logged, base64.StdEncoding.EncodeToString(next.entropy)[:24]) {
		t.Fatalf("log:\n%s", logged)
	}

	// The old deployment goes on, and is not handed the new generation:
	// it is for the new deployment alone.
	if r := a.login(t, b, s); r.Rotation != nil || r.Generation != 1 {
		t.Fatalf("a proof of generation 1 after issue: receipt generation %d, rotation %v", r.Generation, r.Rotation != nil)
	}
	// The new one proves generation 2 under the same alias.
	got, err, r, _ := next.attempt(t, b, s)
	if r == nil || r.Generation != 2 {
		t.Fatalf("the new deployment: %s", outcome(got, err))
	}
	if got.Auth.Alias.Name != firstLogin.Auth.Alias.Name {
		t.Fatalf("alias %q, was %q", got.Auth.Alias.Name, firstLogin.Auth.Alias.Name)
	}
	if rec := readClient(t, b, s, "web", "agent-1"); rec.Generation != 2 || rec.SupersededGeneration != 1 || rec.PromotedAt.IsZero() || rec.PendingOutOfBand {
		t.Fatalf("record after the first proof of generation 2: %+v", rec)
	}
}

func TestIssueWarnsWhenNotWrapped(t *testing.T) {
	b, s, _ := setupRotation(t, nil)
	resp := mustOK(t, b, s, logical.UpdateOperation, issuePath, nil)
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "response-wrapped") {
		t.Fatalf("warnings %v", resp.Warnings)
	}
}

func TestIssueRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string
		setup func(t *testing.T, b *entropyBackend, s logical.Storage, a *rotatingClient)
		code  int // 0: an error response (400)
		want  string
	}{
		{name: "invalid role name", path: "role/Web!/client/agent-1/issue", want: ""},
		{name: "invalid client_id", path: "role/web/client/-agent/issue", want: "invalid client_id"},
		{name: "no such role", path: "role/db/client/agent-1/issue", code: http.StatusNotFound, want: "role \"db\" does not exist"},
		{name: "no such client", path: "role/web/client/agent-2/issue", code: http.StatusNotFound, want: "does not exist"},
		{
			name: "client of an earlier instance of the role", path: issuePath, code: http.StatusNotFound, want: "does not exist",
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, a *rotatingClient) {
				c := readClient(t, b, s, "web", "agent-1")
				c.RoleInstanceID = "another"
				if err := b.putClient(t.Context(), s, c); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "locked client", path: issuePath, want: "is locked",
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, a *rotatingClient) {
				mustOK(t, b, s, logical.UpdateOperation, "role/web/client/agent-1/lock", nil)
			},
		},
		{
			name: "expired client", path: issuePath, want: "has expired",
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, a *rotatingClient) {
				mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"client_ttl": "1h"})
				mustOK(t, b, s, logical.DeleteOperation, "role/web/client/agent-1", nil)
				enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
				a.clock.advance(time.Hour)
			},
		},
		{
			name: "within the previous generation's overlap", path: issuePath, code: http.StatusConflict, want: "generation_overlap runs until",
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, a *rotatingClient) {
				mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"generation_overlap": "1h"})
				deployment(t, a, issue(t, b, s, issuePath)).login(t, b, s)
				a.clock.advance(59 * time.Minute)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s, a := setupRotation(t, nil)
			if tc.setup != nil {
				tc.setup(t, b, s, a)
			}
			before := storageSnapshot(t, s)
			resp, err := request(t, b, s, logical.UpdateOperation, tc.path, nil)
			var coded logical.HTTPCodedError
			switch {
			case tc.code != 0:
				if !errors.As(err, &coded) || coded.Code() != tc.code || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s, want %d %q", outcome(resp, err), tc.code, tc.want)
				}
			case err == logical.ErrUnsupportedPath:
				// Vault's router refuses a path the pattern does not match.
			case err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), tc.want):
				t.Fatalf("%s, want an error response %q", outcome(resp, err), tc.want)
			}
			if resp != nil && resp.Data["entropy"] != nil {
				t.Fatal("a refused issue returned entropy")
			}
			if after := storageSnapshot(t, s); !equalSnapshots(before, after) {
				t.Fatalf("a refused issue changed storage")
			}
		})
	}
}

// A pending generation handed out in band (the rotation period ran out) is
// issued again rather than replaced: a writable holder that saved it is not
// locked out, and the new deployment proves the same generation.
func TestIssueReusesAPendingGenerationHandedOutInBand(t *testing.T) {
	b, s, a := setupRotation(t, map[string]interface{}{"generation_overlap": "1h"})
	a.clock.advance(11 * time.Minute)
	if r := a.login(t, b, s); r.Rotation == nil || a.pending == nil {
		t.Fatal("no rotation handed out in band")
	}
	inBand := a.pending.Entropy
	writes := storageSnapshot(t, s)

	resp := issue(t, b, s, issuePath)
	next := deployment(t, a, resp)
	if next.generation != 2 || !bytes.Equal(next.entropy, inBand) {
		t.Fatalf("issue with a pending generation: generation %d, the same entropy %v", next.generation, bytes.Equal(next.entropy, inBand))
	}
	if equalSnapshots(writes, storageSnapshot(t, s)) || !readClient(t, b, s, "web", "agent-1").PendingOutOfBand {
		t.Fatal("the reissued pending generation is not marked out of band")
	}
	if again := deployment(t, a, issue(t, b, s, issuePath)); !bytes.Equal(again.entropy, inBand) {
		t.Fatal("a second issue replaced the pending generation")
	}
	// An old copy proving generation 1 is no longer handed it.
	old := a.copy()
	old.pending = nil
	if r := old.login(t, b, s); r.Rotation != nil {
		t.Fatal("an out-of-band pending generation was handed out in band")
	}
	// The writable holder proves what it saved; the deployment proves the
	// same generation; neither is a clone, nothing is locked.
	a.login(t, b, s)
	next.login(t, b, s)
	if rec := readClient(t, b, s, "web", "agent-1"); rec.Generation != 2 || rec.Locked || strings.Contains(a.logs.String(), "clone detected") {
		t.Fatalf("after both proved generation 2: %+v", rec)
	}
}

// An issue made while the period has run out but before any login rotated
// is what the deploy gets; the next login of the old deployment proves
// generation 1 and is not handed a generation of its own.
func TestIssueBeforeTheRotationPeriodRunsOut(t *testing.T) {
	b, s, a := setupRotation(t, nil)
	next := deployment(t, a, issue(t, b, s, issuePath))
	a.clock.advance(11 * time.Minute)
	if r := a.login(t, b, s); r.Rotation != nil {
		t.Fatal("a due in-band rotation replaced the out-of-band pending generation")
	}
	next.login(t, b, s)
}
