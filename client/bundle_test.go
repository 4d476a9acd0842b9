package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// wrappingVault answers sys/wrapping/lookup with creationPath and
// sys/wrapping/unwrap with the test bundle, and counts the unwraps.
func wrappingVault(t *testing.T, creationPath string) (*httptest.Server, *atomic.Int32) {
	raw, _ := testBundle(t)
	var unwraps atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/sys/wrapping/lookup":
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			if body["token"] != "wrap-token" || r.Header.Get("X-Vault-Token") != "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			json.NewEncoder(w).Encode(map[string]interface{}{"data": map[string]interface{}{
				"creation_path": creationPath, "creation_ttl": 300, "creation_time": "2026-12-02T00:00:00Z",
			}})
		case "/v1/sys/wrapping/unwrap":
			unwraps.Add(1)
			w.Write(raw)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &unwraps
}

func TestUnwrapChecksTheCreationPath(t *testing.T) {
	for _, tc := range []struct {
		name, namespace, creationPath string
		unwraps                       int32 // the bundle is read only for an enroll path
		ok                            bool
	}{
		{"enroll endpoint", "", "auth/entropy/role/web/enroll", 1, true},
		{"enroll endpoint in the namespace", "team-a", "team-a/auth/entropy/role/web/enroll", 1, true},
		{"enroll endpoint without the namespace", "team-a", "auth/entropy/role/web/enroll", 1, true},
		{"issue endpoint", "", "auth/entropy/role/web/client/agent-1/issue", 1, true},
		{"issue endpoint in the namespace", "team-a", "team-a/auth/entropy/role/web/client/agent-1/issue", 1, true},
		{"issue endpoint of another client", "", "auth/entropy/role/web/client/agent-2/issue", 1, false},
		{"issue endpoint of another role", "", "auth/entropy/role/db/client/agent-1/issue", 1, false},
		{"issue endpoint of another mount", "", "auth/entropy-eu/role/web/client/agent-1/issue", 1, false},
		{"a KV read shaped like issue", "", "secret/auth/entropy/role/web/client/agent-1/issue", 0, false},
		{"a client path that does not issue", "", "auth/entropy/role/web/client/agent-1/rotate", 0, false},
		{"sys/wrapping/wrap", "", "sys/wrapping/wrap", 0, false},
		{"sys/wrapping/wrap in the namespace", "team-a", "team-a/sys/wrapping/wrap", 0, false},
		{"a KV read", "", "secret/data/bundle", 0, false},
		{"a KV read shaped like enroll", "", "secret/auth/entropy/role/web/enroll", 0, false},
		{"another namespace", "team-a", "team-b/auth/entropy/role/web/enroll", 0, false},
		{"none", "", "", 0, false},
		{"another role", "", "auth/entropy/role/db/enroll", 1, false},
		{"another mount", "", "auth/entropy-eu/role/web/enroll", 1, false},
		{"escape sequence", "", "\x1b[2Jsys/wrapping/wrap", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, unwraps := wrappingVault(t, tc.creationPath)
			c := clientFor(t, srv.URL)
			c.SetNamespace(tc.namespace)
			s, err := Unwrap(context.Background(), c, "wrap-token")
			if tc.ok {
				if err != nil || s == nil || s.Role != "web" {
					t.Fatalf("Unwrap = %v, %v", s, err)
				}
			} else {
				if !errors.Is(err, ErrWrappingToken) || s != nil {
					t.Fatalf("Unwrap = %v, %v; want ErrWrappingToken", s, err)
				}
				if !strings.Contains(err.Error(), "swapped") || strings.ContainsRune(err.Error(), 0x1b) {
					t.Errorf("error %q", err)
				}
			}
			if n := unwraps.Load(); n != tc.unwraps {
				t.Errorf("%d unwraps, want %d", n, tc.unwraps)
			}
		})
	}
}
