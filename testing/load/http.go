package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// httpClient posts login requests. Both methods go through it, with the same
// connection pool and the same response decoding, so that the load
// generator's cost is the same for both.
type httpClient struct {
	addr string
	hc   *http.Client
}

func newHTTPClient(addr string, conns int) *httpClient {
	tr := &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     time.Minute,
	}
	return &httpClient{addr: addr, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// loginResponse is the part of a login response the harness reads. The
// token is only checked for presence: it is never logged or kept.
type loginResponse struct {
	Auth *struct {
		ClientToken string            `json:"client_token"`
		Metadata    map[string]string `json:"metadata"`
	} `json:"auth"`
	Data struct {
		Receipt string `json:"receipt"`
	} `json:"data"`
	Errors []string `json:"errors"`
}

func (r *loginResponse) token() bool { return r.Auth != nil && r.Auth.ClientToken != "" }

// post sends body to /v1/path without a token and decodes the response.
func (h *httpClient) post(ctx context.Context, path string, body []byte) (int, *loginResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.addr+"/v1/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	lr := &loginResponse{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, lr); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("response is not JSON (status %d)", resp.StatusCode)
		}
	}
	return resp.StatusCode, lr, nil
}

// expectToken accepts a 200 with a token.
func expectToken(status int, r *loginResponse) error {
	if status != http.StatusOK || r == nil || !r.token() {
		return fmt.Errorf("status %d: %v", status, errorsOf(r))
	}
	return nil
}

// expectRefusal accepts a 4xx without a token: what every garbage request
// must get.
func expectRefusal(status int, r *loginResponse) error {
	if status < 400 || status >= 500 || (r != nil && r.token()) {
		return fmt.Errorf("garbage got status %d (token: %v)", status, r != nil && r.token())
	}
	return nil
}

func errorsOf(r *loginResponse) []string {
	if r == nil {
		return nil
	}
	return r.Errors
}
