package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// TestClientGone: a request whose client went away while the store worked
// is answered 499 (the client never sees it), not logged as an internal
// error and not counted as a 500.
func TestClientGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := MustOpenServer(t, func(s *TestServer) {
		s.Store.FindInstancesFn = func(ctx context.Context, f phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
			cancel() // the client hangs up while the query runs
			<-ctx.Done()
			return nil, 0, fmt.Errorf("query instances: %w", ctx.Err())
		}
	})
	req := httptest.NewRequestWithContext(ctx, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", nil)
	req.Header.Set("X-Auth-Token", adminToken)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != pfhttp.StatusClientClosedRequest {
		t.Fatalf("status %d, want 499", rec.Code)
	}
	if logs := s.Log.String(); strings.Contains(logs, "internal error") || strings.Contains(logs, "level=ERROR") {
		t.Fatalf("an abandoned request was logged as an error:\n%s", logs)
	}

	// A store failure with the client still there stays a logged 500.
	s2 := MustOpenServer(t, func(s *TestServer) {
		s.Store.FindInstancesFn = func(ctx context.Context, f phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
			return nil, 0, fmt.Errorf("disk on fire")
		}
	})
	req = httptest.NewRequest("GET", "/v1/instances/batch-query?page_no=1&page_size=10", nil)
	req.Header.Set("X-Auth-Token", adminToken)
	rec = httptest.NewRecorder()
	s2.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(s2.Log.String(), "internal error") {
		t.Fatalf("status %d, logs %s; want a logged 500", rec.Code, s2.Log.String())
	}
}
