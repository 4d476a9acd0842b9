package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// TestSwappedWrappingTokenRefused: a wrapping token made with
// sys/wrapping/wrap around a real, valid bundle (as someone who copied a
// bundle, or made one with their own server keys, would hand over in place
// of the operator's token) is refused by the library and by the CLI, and no
// state file is written. The operator's own token still works.
func TestSwappedWrappingTokenRefused(t *testing.T) {
	e := newEnv(t, "entropy")
	e.write(t, "auth/entropy/role/web", map[string]interface{}{"token_policies": "web-read"})
	bundle := e.write(t, "auth/entropy/role/web/enroll", map[string]interface{}{"client_id": "copied"})

	wrap := func(t *testing.T) string {
		t.Helper()
		c, err := e.Client.Clone()
		must(t, err)
		c.SetToken(e.RootToken)
		c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
		s, err := c.Logical().WriteWithContext(t.Context(), "sys/wrapping/wrap", bundle.Data)
		must(t, err)
		if s == nil || s.WrapInfo == nil || s.WrapInfo.CreationPath != "sys/wrapping/wrap" {
			t.Fatalf("sys/wrapping/wrap returned %#v", s)
		}
		return s.WrapInfo.Token
	}

	t.Run("library", func(t *testing.T) {
		s, err := client.Unwrap(t.Context(), e.Client, wrap(t))
		if !errors.Is(err, client.ErrWrappingToken) || s != nil {
			t.Fatalf("Unwrap = %v, %v; want ErrWrappingToken", s, err)
		}
	})
	t.Run("cli", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state.json")
		_, err := e.runCLI(t, wrap(t), "bootstrap", "-wrap-token=-", "-state="+state)
		if err == nil || !strings.Contains(err.Error(), "swapped") || !strings.Contains(err.Error(), "Nothing was written") {
			t.Fatalf("bootstrap with a swapped token: %v", err)
		}
		if _, serr := os.Lstat(state); !os.IsNotExist(serr) {
			t.Fatalf("a state file was written: %v", serr)
		}
	})
	t.Run("enroll token", func(t *testing.T) {
		state := e.Enroll(t, "auth/entropy", "web", "genuine")
		if _, err := e.login(t, state); err != nil {
			t.Fatalf("login after a genuine bootstrap: %v", err)
		}
	})
}
