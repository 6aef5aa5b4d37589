package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/mock"
	"github.com/prometheus/client_golang/prometheus"
)

// Tokens the default mock store knows.
const (
	adminToken   = "tkadmin.secret"
	viewerToken  = "tkviewer.secret"
	otherToken   = "tkother.secret" // admin of another tenant
	expiredToken = "tkexpired.secret"
	revokedToken = "tkrevoked.secret"
)

// testNow is the fixed clock of the test servers.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestServer is a running server on 127.0.0.1:0 with a mock store, the
// audit events it wrote and its captured log.
type TestServer struct {
	*pfhttp.Server
	Store *mock.Store
	Log   *syncBuffer

	mu     sync.Mutex
	audits []*phonefleet.AuditEvent
}

// Audits returns the audit events written through CreateAuditEvent.
func (s *TestServer) Audits() []*phonefleet.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*phonefleet.AuditEvent(nil), s.audits...)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newToken returns a token of tenant with the actions of role.
func newToken(id, tenant, role string) *phonefleet.Token {
	actions, _ := phonefleet.RoleActions(role)
	return &phonefleet.Token{
		ID: id, TenantID: tenant, TenantName: tenant + "-name", Actions: actions,
		CreatedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.Add(time.Hour),
	}
}

// MustOpenServer opens a server whose mock store knows the test tokens and
// records audit events. configure may change the store or the server
// before it opens.
func MustOpenServer(tb testing.TB, configure ...func(*TestServer)) *TestServer {
	tb.Helper()
	expired := newToken("tkexpired", "t1", phonefleet.RoleAdmin)
	expired.ExpiresAt = testNow.Add(-time.Minute)
	revoked := newToken("tkrevoked", "t1", phonefleet.RoleAdmin)
	revokedAt := testNow.Add(-time.Minute)
	revoked.RevokedAt = &revokedAt
	tokens := map[string]*phonefleet.Token{
		string(phonefleet.HashToken(adminToken)):   newToken("tkadmin", "t1", phonefleet.RoleAdmin),
		string(phonefleet.HashToken(viewerToken)):  newToken("tkviewer", "t1", phonefleet.RoleViewer),
		string(phonefleet.HashToken(otherToken)):   newToken("tkother", "t2", phonefleet.RoleAdmin),
		string(phonefleet.HashToken(expiredToken)): expired,
		string(phonefleet.HashToken(revokedToken)): revoked,
	}

	s := &TestServer{Server: pfhttp.NewServer(), Store: &mock.Store{}, Log: &syncBuffer{}}
	s.Store.FindTokenByHashFn = func(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
		if tok := tokens[string(hash)]; tok != nil {
			return tok, nil
		}
		return nil, phonefleet.Errorf(phonefleet.ENotFound, "token not found")
	}
	s.Store.CreateAuditEventFn = func(ctx context.Context, e *phonefleet.AuditEvent) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.audits = append(s.audits, e)
		return nil
	}
	s.Server.Addr = ":0"
	s.Server.Store = s.Store
	s.Server.Now = func() time.Time { return testNow }
	s.Server.TokenCacheTTL = 0
	s.Server.Logger = slog.New(slog.NewTextHandler(s.Log, nil))
	for _, f := range configure {
		f(s)
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Response is an answer read in full.
type Response struct {
	*http.Response
	Body []byte
}

// Envelope is either response envelope, decoded.
type Envelope struct {
	Data      json.RawMessage `json:"data"`
	Code      string          `json:"error_code"`
	Message   string          `json:"error_msg"`
	RequestID string          `json:"request_id"`
}

// Envelope decodes the body, failing the test if it is not JSON.
func (r *Response) Envelope(tb testing.TB) Envelope {
	tb.Helper()
	var e Envelope
	if err := json.Unmarshal(r.Body, &e); err != nil {
		tb.Fatalf("body %q is not JSON: %v", r.Body, err)
	}
	return e
}

// Do sends a request to the server; header holds raw header lines (keys
// are sent as written).
func (s *TestServer) Do(tb testing.TB, method, path string, header map[string]string, body string) *Response {
	tb.Helper()
	return doRequest(tb, method, s.URL()+path, header, body)
}

// doRequest sends a request and reads the answer, failing the test unless
// it has the headers every response must have.
func doRequest(tb testing.TB, method, url string, header map[string]string, body string) *Response {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		tb.Fatalf("%s %s: Content-Type=%q, want application/json", method, url, got)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		tb.Fatalf("%s %s: no X-Request-Id", method, url)
	}
	return &Response{Response: resp, Body: b}
}

// Post sends a JSON body with token.
func (s *TestServer) Post(tb testing.TB, path, token, body string) *Response {
	tb.Helper()
	return s.Do(tb, "POST", path, map[string]string{"X-Auth-Token": token, "Content-Type": "application/json", "X-Request-Id": "req-post"}, body)
}

// Get sends a GET with token.
func (s *TestServer) Get(tb testing.TB, path, token string) *Response {
	tb.Helper()
	return s.Do(tb, "GET", path, map[string]string{"X-Auth-Token": token}, "")
}

// assertError fails unless resp is the error envelope with status, code and
// message.
func assertError(tb testing.TB, resp *Response, status int, code, msg string) {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Fatalf("StatusCode=%d, want %d (body %s)", resp.StatusCode, status, resp.Body)
	}
	e := resp.Envelope(tb)
	if e.Code != code || e.Message != msg {
		tb.Fatalf("error=%q %q, want %q %q", e.Code, e.Message, code, msg)
	}
	if e.Data != nil {
		tb.Fatalf("error body has data: %s", resp.Body)
	}
}

func TestServer_Open(t *testing.T) {
	s := MustOpenServer(t)
	if s.Port() == 0 {
		t.Fatal("Port=0")
	}
	if got := s.URL(); !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Fatalf("URL=%q, want http://127.0.0.1:...", got)
	}
}

func TestServer_Health(t *testing.T) {
	t.Run("Healthz", func(t *testing.T) {
		s := MustOpenServer(t)
		resp := s.Do(t, "GET", "/healthz", nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200", resp.StatusCode)
		}
		if got, want := string(resp.Body), `{"data":{"status":"ok"},"error_code":"0","error_msg":"OK"}`; got != want {
			t.Fatalf("body=%s, want %s", got, want)
		}
	})
	t.Run("ReadyOK", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.PingFn = func(ctx context.Context) error { return nil }
		})
		if resp := s.Do(t, "GET", "/readyz", nil, ""); resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200", resp.StatusCode)
		}
	})
	t.Run("ReadyErr", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.PingFn = func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("ping without a deadline")
				}
				return errors.New("database is locked")
			}
		})
		resp := s.Do(t, "GET", "/readyz", nil, "")
		assertError(t, resp, 503, phonefleet.EInternal, "Internal service error.")
		if log := s.Log.String(); !strings.Contains(log, "database is locked") || !strings.Contains(log, resp.Header.Get("X-Request-Id")) {
			t.Fatalf("log lacks the error or request id: %s", log)
		}
	})
}

func TestServer_RequestID(t *testing.T) {
	s := MustOpenServer(t)
	t.Run("Echo", func(t *testing.T) {
		for _, id := range []string{"a", "req-1.2_3", strings.Repeat("x", 64)} {
			resp := s.Do(t, "GET", "/healthz", map[string]string{"X-Request-Id": id}, "")
			if got := resp.Header.Get("X-Request-Id"); got != id {
				t.Fatalf("X-Request-Id=%q, want %q", got, id)
			}
		}
	})
	t.Run("Replace", func(t *testing.T) {
		seen := map[string]bool{}
		for _, id := range []string{"", strings.Repeat("x", 65), "a b", "a/b", "ü", "a;b"} {
			resp := s.Do(t, "GET", "/healthz", map[string]string{"X-Request-Id": id}, "")
			got := resp.Header.Get("X-Request-Id")
			if got == id || len(got) < 16 || len(got) > 64 || seen[got] {
				t.Fatalf("X-Request-Id=%q for %q, want a new unique ID", got, id)
			}
			seen[got] = true
		}
	})
	t.Run("OnErrors", func(t *testing.T) {
		resp := s.Do(t, "GET", "/nope", map[string]string{"X-Request-Id": "abc"}, "")
		if got := resp.Header.Get("X-Request-Id"); got != "abc" {
			t.Fatalf("X-Request-Id=%q, want abc", got)
		}
		resp = s.Post(t, "/v1/instances/delete", "", `{}`)
		if got := resp.Envelope(t).RequestID; got == "" || got != resp.Header.Get("X-Request-Id") {
			t.Fatalf("body request_id=%q, header %q", got, resp.Header.Get("X-Request-Id"))
		}
	})
}

func TestServer_NoSuchAPI(t *testing.T) {
	s := MustOpenServer(t)
	t.Run("NotFound", func(t *testing.T) {
		for _, path := range []string{"/index.html", "//", "/v1/instances", "/v1/instances/delete/", "/v1/instances/../instances/sku?type=0", "/V1/instances/sku"} {
			resp := s.Do(t, "GET", path, map[string]string{"X-Auth-Token": adminToken}, "")
			assertError(t, resp, 404, phonefleet.ENoSuchAPI, "No API found for GET "+strings.Split(path, "?")[0])
		}
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		resp := s.Do(t, "GET", "/v1/instances/delete", map[string]string{"X-Auth-Token": adminToken}, "")
		assertError(t, resp, 405, phonefleet.ENoSuchAPI, "Method GET is not allowed for /v1/instances/delete")
		if got := resp.Header.Get("Allow"); got != "POST" {
			t.Fatalf("Allow=%q, want POST", got)
		}
		resp = s.Do(t, "DELETE", "/v1/instances/sku", nil, "")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("StatusCode=%d Allow=%q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// TestServer_RootRedirect: GET and HEAD / send a browser to the console
// (302, Location /console/); / with another method is 405 APIGW.0101.
func TestServer_RootRedirect(t *testing.T) {
	s := MustOpenServer(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, s.URL()+"/", nil)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
			t.Fatalf("%s /: %d Location=%q, want 302 /console/", method, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp := s.Do(t, "POST", "/", nil, "")
	assertError(t, resp, 405, phonefleet.ENoSuchAPI, "Method POST is not allowed for /")
	resp = s.Do(t, "GET", "/?x=1", nil, "")
	assertError(t, resp, 400, phonefleet.EInvalid, `query parameter "x" is not known`)
}

func TestServer_InternalError(t *testing.T) {
	s := MustOpenServer(t, func(s *TestServer) {
		s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
			return nil, errors.New("disk I/O error at /var/secret/phonefleet.db")
		}
	})
	resp := s.Do(t, "POST", "/v1/instances/delete", map[string]string{
		"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "req-internal-1",
	}, `{"instanceIdList":["abc"]}`)
	if resp.StatusCode != 500 {
		t.Fatalf("StatusCode=%d, want 500", resp.StatusCode)
	}
	if got, want := string(resp.Body), `{"error_code":"KOOPHONE.API.9999","error_msg":"Internal service error."}`; got != want {
		t.Fatalf("body=%s, want %s", got, want)
	}
	var line string
	for _, l := range strings.Split(s.Log.String(), "\n") {
		if strings.Contains(l, "request_id=req-internal-1") {
			line = l
		}
	}
	if !strings.Contains(line, "disk I/O error at /var/secret/phonefleet.db") {
		t.Fatalf("no log line with the request id and the error: %s", s.Log.String())
	}
}

func TestServer_Panic(t *testing.T) {
	s := MustOpenServer(t, func(s *TestServer) {
		s.Store.FindSKUsFn = func(ctx context.Context) ([]*phonefleet.SKU, error) { panic("nil map in catalogue") }
	})
	resp := s.Do(t, "GET", "/v1/instances/sku?type=0", map[string]string{"X-Auth-Token": adminToken, "X-Request-Id": "req-panic"}, "")
	assertError(t, resp, 500, phonefleet.EInternal, "Internal service error.")
	if log := s.Log.String(); !strings.Contains(log, "nil map in catalogue") || !strings.Contains(log, "request_id=req-panic") {
		t.Fatalf("log lacks the panic or request id: %s", log)
	}
	// The server still answers.
	if resp := s.Do(t, "GET", "/healthz", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("StatusCode=%d after panic, want 200", resp.StatusCode)
	}
}

// counterValue returns the value of a counter in the default registry, 0 if
// it has no such series.
func counterValue(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestServer_Metrics(t *testing.T) {
	s := MustOpenServer(t)
	reqLabels := map[string]string{"pattern": "GET /v1/instances/sku", "code": "400"}
	errLabels := map[string]string{"code": phonefleet.EInvalid}
	reqBefore, errBefore := counterValue(t, "phonefleet_http_requests_total", reqLabels), counterValue(t, "phonefleet_http_errors_total", errLabels)

	s.Get(t, "/v1/instances/sku?type=1", adminToken)

	if got := counterValue(t, "phonefleet_http_requests_total", reqLabels); got != reqBefore+1 {
		t.Fatalf("requests_total=%v, want %v", got, reqBefore+1)
	}
	if got := counterValue(t, "phonefleet_http_errors_total", errLabels); got != errBefore+1 {
		t.Fatalf("errors_total=%v, want %v", got, errBefore+1)
	}
}

// TestServer_MetricsEndpoint checks that GET /metrics answers the
// Prometheus text format without a token, and that NoMetrics takes it off
// the API listener.
func TestServer_MetricsEndpoint(t *testing.T) {
	s := MustOpenServer(t)
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(body), "# TYPE phonefleet_http_requests_total counter") ||
		!strings.Contains(string(body), "# TYPE phonefleet_commands_scrape_errors gauge") {
		t.Fatalf("GET /metrics: %d %s\n%.500s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	s.NoMetrics = true
	assertError(t, s.Do(t, "GET", "/metrics", nil, ""), 404, phonefleet.ENoSuchAPI, "No API found for GET /metrics")
}
