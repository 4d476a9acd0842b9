package load

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		lat  []time.Duration
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7},
		{"median of three", ms(3, 1, 2), 0.5, 2},
		{"p99 of 1..100", ms(hundred...), 0.99, 99},
		{"p50 of 1..100", ms(hundred...), 0.50, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.lat, tc.q); got != tc.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", tc.lat, tc.q, got, tc.want)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	tok := &loginResponse{}
	tok.Auth = &struct {
		ClientToken string            `json:"client_token"`
		Metadata    map[string]string `json:"metadata"`
	}{ClientToken: "x"}
	none := &loginResponse{Errors: []string{"permission denied"}}
	for _, tc := range []struct {
		name       string
		status     int
		resp       *loginResponse
		token, ref bool // expectToken and expectRefusal accept it
	}{
		{"200 with token", 200, tok, true, false},
		{"200 without token", 200, none, false, false},
		{"403", 403, none, false, true},
		{"400", 400, none, false, true},
		{"403 carrying a token", 403, tok, false, false},
		{"500", 500, none, false, false},
		{"no body", 403, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expectToken(tc.status, tc.resp) == nil; got != tc.token {
				t.Errorf("expectToken accepts: %v, want %v", got, tc.token)
			}
			if got := expectRefusal(tc.status, tc.resp) == nil; got != tc.ref {
				t.Errorf("expectRefusal accepts: %v, want %v", got, tc.ref)
			}
		})
	}
}

// TestPhaseCounts runs a phase against a fake server that refuses every
// third request: the result must count each request once, in the right
// bucket, and report the refusals as errors.
func TestPhaseCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "refuse") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":["permission denied"]}`)
			return
		}
		io.WriteString(w, `{"auth":{"client_token":"hvs.fake"}}`)
	}))
	defer srv.Close()
	h := newHTTPClient(srv.URL, 4)
	var reqErr = errors.New("no body")
	p := &phase{
		name: "t", method: "fake", concurrency: 3, count: 30, timeout: 10 * time.Second,
		request: func(_, i int) (string, []byte, error) {
			switch {
			case i == 29:
				return "", nil, reqErr
			case i%3 == 0:
				return "auth/x/login", []byte(`{"refuse":1}`), nil
			}
			return "auth/x/login", []byte(`{}`), nil
		},
		check: expectToken,
	}
	r := p.run(context.Background(), h, 0)
	if r.Requests != 30 || r.OK != 19 || r.Errors != 11 || r.NotSent != 0 {
		t.Fatalf("requests %d ok %d errors %d not sent %d, want 30 19 11 0", r.Requests, r.OK, r.Errors, r.NotSent)
	}
	if r.Statuses[403] != 10 || r.Statuses[200] != 19 {
		t.Fatalf("statuses %v", r.Statuses)
	}
	if len(r.ErrorSample) == 0 || r.P50ms <= 0 || r.PerSecond <= 0 {
		t.Fatalf("result lacks figures: %+v", r)
	}
	res := &Results{Sweep: []Result{r}}
	if f := res.Failures(); len(f) != 1 {
		t.Fatalf("failures %v, want one", f)
	}
}

// TestPhasePaced: a paced phase takes about count/rate, not less.
func TestPhasePaced(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"auth":{"client_token":"hvs.fake"}}`)
	}))
	defer srv.Close()
	p := &phase{
		name: "t", method: "fake", concurrency: 2, count: 20, rate: 40, timeout: 10 * time.Second,
		request: func(_, i int) (string, []byte, error) { return "auth/x/login", []byte(`{}`), nil },
		check:   expectToken,
	}
	r := p.run(context.Background(), newHTTPClient(srv.URL, 2), 0)
	// 20 requests at 40/s: the last is due at 475 ms.
	if r.OK != 20 || r.Seconds < 0.45 {
		t.Fatalf("ok %d in %.3f s, want 20 in at least 0.45 s", r.OK, r.Seconds)
	}
}

// TestReport: the markdown has a row per result and the SVG is well-formed
// XML with a line per method and token type.
func TestReport(t *testing.T) {
	res := &Results{Hardware: Hardware{CPUModel: "test <cpu>", Cores: 2, Vault: "1.21.0"}}
	for _, c := range []int{1, 2, 4} {
		for _, m := range []string{"entropy", "approle-reused", "approle-single-use"} {
			for _, tok := range tokenTypes {
				res.Sweep = append(res.Sweep, Result{Phase: "sweep", Method: m, TokenType: tok, Concurrency: c, Requests: 10, OK: 10, PerSecond: float64(100 * c)})
			}
		}
	}
	var md bytes.Buffer
	res.WriteMarkdown(&md)
	if n := strings.Count(md.String(), "| sweep |"); n != len(res.Sweep) {
		t.Fatalf("%d sweep rows in the markdown, want %d", n, len(res.Sweep))
	}
	var svg bytes.Buffer
	if err := res.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&svg)
	lines := 0
	for {
		tokn, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tokn.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 6 {
		t.Fatalf("%d lines in the plot, want 6", lines)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {1.2, 2}, {430, 500}, {1514, 2000}, {5000, 5000}, {5001, 10000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestForEach: every index once; after an error no new index is taken and
// the error returned is the first.
func TestForEach(t *testing.T) {
	for _, workers := range []int{0, 1, 4} {
		var mu sync.Mutex
		seen := map[int]int{}
		err := forEach(context.Background(), 100, workers, func(_ context.Context, i int) error {
			mu.Lock()
			seen[i]++
			mu.Unlock()
			return nil
		})
		if err != nil || len(seen) != 100 {
			t.Fatalf("workers=%d: err %v, %d indexes", workers, err, len(seen))
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("workers=%d: index %d called %d times", workers, i, n)
			}
		}
	}
	boom := errors.New("boom")
	var calls atomic.Int64
	err := forEach(context.Background(), 1000, 1, func(_ context.Context, i int) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 4 {
		t.Fatalf("err %v after %d calls, want boom after 4", err, calls.Load())
	}
}
