package aws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// stsShim stands in front of MinIO as Vault's sts_endpoint. MinIO answers
// STS AssumeRole but not GetCallerIdentity, and Vault 1.21's AWS engine
// calls GetCallerIdentity on each configured STS endpoint before it uses
// it ("could not obtain sts client" otherwise; measured, see docs/aws.md).
// The shim answers that one call with a fixed identity and passes every
// other request, with its body and Host header unchanged (the SigV4
// signature covers both), to MinIO, which checks the signature and
// issues the credentials.
type stsShim struct {
	srv *httptest.Server
	// accessKey is the only access key whose GetCallerIdentity the shim
	// answers: Vault's, from aws/config/root.
	accessKey string

	identityCalls, forwarded atomic.Int32
}

func startSTSShim(t *testing.T, minioAddr, accessKey string) *stsShim {
	t.Helper()
	target, err := url.Parse(minioAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := &stsShim{accessKey: accessKey}
	proxy := httputil.NewSingleHostReverseProxy(target)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodPost && form.Get("Action") == "GetCallerIdentity" {
			s.identityCalls.Add(1)
			s.callerIdentity(w, r)
			return
		}
		s.forwarded.Add(1)
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// callerIdentity answers GetCallerIdentity as AWS STS does, for a request
// signed with the shim's access key; any other gets AccessDenied.
func (s *stsShim) callerIdentity(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/xml")
	if !strings.Contains(r.Header.Get("Authorization"), "Credential="+s.accessKey+"/") {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not the configured access key</Message></Error><RequestId>shim</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::%s:user/%s</Arn><UserId>%s</UserId><Account>%s</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>shim</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, accountID, s.accessKey, s.accessKey, accountID)
}
