package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"
)

// hugeBody answers every request with a 200 whose JSON body is n bytes, a
// login response whose receipt never ends, written from one small buffer.
func hugeBody(n int, announce bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		head := `{"auth":{"client_token":"t"},"data":{"receipt":"`
		if announce {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		w.Header().Set("Content-Type", "application/json")
		buf := []byte(strings.Repeat("A", 32<<10))
		written, _ := w.Write([]byte(head))
		for written < n {
			k, err := w.Write(buf[:min(len(buf), n-written)])
			if err != nil {
				return
			}
			written += k
		}
	}
}

func clientFor(t *testing.T, url string) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = url
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("operator-token")
	return c
}

func TestMaxResponseSize(t *testing.T) {
	// Derived from the largest entropy: keep it in step, and well under
	// the sizes that hurt.
	if MaxResponseSize != 1601996 {
		t.Errorf("MaxResponseSize = %d, want 1601996 for 256 KiB of entropy", MaxResponseSize)
	}
}

func TestLoginRefusesAHugeResponse(t *testing.T) {
	fv := newFakeVault(t)
	path := fv.stateFile(t)
	for _, announce := range []bool{false, true} {
		t.Run(fmt.Sprintf("content-length=%v", announce), func(t *testing.T) {
			srv := httptest.NewServer(hugeBody(64<<20, announce))
			defer srv.Close()
			c := clientFor(t, srv.URL)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			secret, err := c.Auth().Login(context.Background(), newAuth(t, path))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrResponseTooLarge) || secret != nil {
				t.Fatalf("Login = %v, %v; want ErrResponseTooLarge", secret, err)
			}
			// Before the bound, vault/api allocated about 929 MiB for
			// this body; now a few times MaxResponseSize (vault/api
			// buffers the body twice, growing by doubling): 8 MiB, 16
			// under the race detector.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %.1f MiB", float64(alloc)/(1<<20))
			if alloc > 24<<20 {
				t.Errorf("reading the response allocated %d MiB", alloc>>20)
			}
			if !strings.Contains(err.Error(), "larger than") {
				t.Errorf("error %q does not say what happened", err)
			}
		})
	}
}

func TestResponseAtTheLimitIsRead(t *testing.T) {
	// A body of exactly MaxResponseSize is read; one byte more is not.
	for _, tc := range []struct {
		n    int
		fail bool
	}{{MaxResponseSize, false}, {MaxResponseSize + 1, true}} {
		body := `{"data":{"x":"` + strings.Repeat("A", tc.n-len(`{"data":{"x":""}}`)) + `"}}`
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body))
		}))
		hc, err := Harden(clientFor(t, srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		_, err = hc.Logical().Read("secret/x")
		srv.Close()
		if got := errors.Is(err, ErrResponseTooLarge); got != tc.fail {
			t.Errorf("a body of %d bytes: %v", tc.n, err)
		}
	}
}

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	var otherHits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write([]byte(`{"data":{"x":"y"}}`))
	}))
	defer elsewhere.Close()
	fv := newFakeVault(t)
	path := fv.stateFile(t)
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
			}))
			defer srv.Close()
			c := clientFor(t, srv.URL)
			// A login: the proof would go to the other host.
			if _, err := c.Auth().Login(context.Background(), newAuth(t, path)); !errors.Is(err, ErrRedirectRefused) {
				t.Errorf("Login: %v, want ErrRedirectRefused", err)
			}
			// A read with a token, as awscreds and the agent make.
			hc, err := Harden(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hc.Logical().Read("aws/sts/web"); !errors.Is(err, ErrRedirectRefused) {
				t.Errorf("Read: %v, want ErrRedirectRefused", err)
			}
			if n := otherHits.Load(); n != 0 {
				t.Fatalf("the other host got %d requests", n)
			}
		})
	}
}

// A redirect to the same scheme, host and port reaches the server the
// caller chose: it is followed, once, as vault/api does, token and all.
func TestRedirectToTheSameHostIsFollowed(t *testing.T) {
	var tokens atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/secret/old" {
			http.Redirect(w, r, "/v1/secret/new", http.StatusTemporaryRedirect)
			return
		}
		tokens.Store(r.Header.Get("X-Vault-Token"))
		w.Write([]byte(`{"data":{"x":"y"}}`))
	}))
	defer srv.Close()
	c := clientFor(t, srv.URL)
	hc, err := Harden(c)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hc.Logical().Read("secret/old")
	if err != nil || secret == nil || secret.Data["x"] != "y" {
		t.Fatalf("Read = %v, %v", secret, err)
	}
	if tokens.Load() != "operator-token" {
		t.Errorf("the redirected request carried token %v", tokens.Load())
	}
	// The caller's client is left as it was.
	if _, ok := c.CloneConfig().HttpClient.Transport.(*boundedTransport); ok {
		t.Error("Harden changed the caller's client")
	}
}
