package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// openAPICheck is an http.RoundTripper that validates every answer the
// suite receives against the server's OpenAPI document, with kin-openapi's
// validator (openapi3filter): the status must be documented for the route
// and the body must match its schema. TestMain installs it as the default
// client's transport and fails the run if any answer did not match.
type openAPICheck struct {
	next   http.RoundTripper
	router routers.Router

	mu           sync.Mutex
	validated    int
	undocumented map[string]int // "METHOD path" the document has no route for (deliberately bad requests)
	failures     []string
}

func newOpenAPICheck() (*openAPICheck, error) {
	doc, err := openapi3.NewLoader().LoadFromData(pfhttp.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not valid: %w", err)
	}
	// The document's server is relative ("/"); each test's server has its
	// own port, so match routes on any host.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	// The console's page and assets; their bodies are text.
	for _, ct := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
	}
	return &openAPICheck{next: http.DefaultTransport, router: router, undocumented: map[string]int{}}, nil
}

func (c *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the caller sees the short body
	}
	if resp.Header.Get("X-Request-Id") == "" && !strings.HasPrefix(req.URL.Path, "/console") && req.URL.Path != "/metrics" && req.URL.Path != "/openapi.json" {
		// Not phonefleet's API (a test's own webhook receiver).
		return resp, nil
	}
	c.check(req, resp, body)
	return resp, nil
}

func (c *openAPICheck) check(req *http.Request, resp *http.Response, body []byte) {
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.mu.Lock()
		c.undocumented[req.Method+" "+req.URL.Path]++
		c.mu.Unlock()
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.validated++
	if err != nil {
		c.failures = append(c.failures, fmt.Sprintf("%s %s → %d %.300s:\n    %v", req.Method, req.URL.RequestURI(), resp.StatusCode, body, err))
	}
}

// report writes what was checked and returns the number of answers that
// did not match the document.
func (c *openAPICheck) report(w io.Writer) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var paths []string
	for p, n := range c.undocumented {
		paths = append(paths, fmt.Sprintf("%s (%d)", p, n))
	}
	sort.Strings(paths)
	fmt.Fprintf(w, "openapi: %d answers validated against openapi.json, %d did not match; %d answers to routes it does not have: %s\n",
		c.validated, len(c.failures), len(paths), strings.Join(paths, ", "))
	for _, f := range c.failures {
		fmt.Fprintf(w, "openapi: answer does not match openapi.json: %s\n", f)
	}
	return len(c.failures)
}

// fakeAnswer is a RoundTripper that answers every request with one canned
// body.
type fakeAnswer struct {
	status int
	body   string
}

func (f fakeAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r"}}
	return &http.Response{StatusCode: f.status, Header: h, Body: io.NopCloser(strings.NewReader(f.body)), Request: req}, nil
}

// TestOpenAPICheck_CatchesMismatches shows the check fails answers that
// drift from the document and passes one that matches.
func TestOpenAPICheck_CatchesMismatches(t *testing.T) {
	for _, c := range []struct {
		name, method, path string
		answer             fakeAnswer
		wantFail           bool
	}{
		{"good page", "GET", "/v1/phonefleet/refunds?page_no=1&page_size=1", fakeAnswer{200, `{"data":{"result":[],"page_no":1,"page_size":1,"total_count":0},"error_code":"0","error_msg":"OK"}`}, false},
		{"missing member", "GET", "/v1/phonefleet/refunds?page_no=1&page_size=1", fakeAnswer{200, `{"data":{"result":[],"page_no":1,"page_size":1},"error_code":"0","error_msg":"OK"}`}, true},
		{"unknown member", "GET", "/v1/phonefleet/audit?page_no=1&page_size=1", fakeAnswer{200, `{"data":{"result":[],"page_no":1,"page_size":1,"total_count":0,"extra":1},"error_code":"0","error_msg":"OK"}`}, true},
		{"wrong type", "POST", "/v1/instances/batch-query-status", fakeAnswer{200, `{"data":{"status_results":[{"instance_id":"a","status":"2"}]},"error_code":"0","error_msg":"OK"}`}, true},
		{"error without message", "POST", "/v1/instances/delete", fakeAnswer{400, `{"error_code":"KOOPHONE.API.1000"}`}, true},
		{"IAM error in the envelope", "POST", "/v3/auth/tokens", fakeAnswer{401, `{"error_code":"APIGW.0301","error_msg":"no"}`}, true},
	} {
		check, err := newOpenAPICheck()
		if err != nil {
			t.Fatal(err)
		}
		check.next = c.answer
		req, _ := http.NewRequest(c.method, "http://127.0.0.1:1"+c.path, nil)
		resp, err := check.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if failed := len(check.failures) > 0; failed != c.wantFail || check.validated != 1 {
			t.Errorf("%s: failed=%v (%v) after %d validations, want failed=%v", c.name, failed, check.failures, check.validated, c.wantFail)
		}
	}
}
