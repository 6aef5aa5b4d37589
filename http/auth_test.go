package http_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// skuStore makes FindSKUs answer the default catalogue.
func skuStore(s *TestServer) {
	s.Store.FindSKUsFn = func(ctx context.Context) ([]*phonefleet.SKU, error) { return phonefleet.DefaultSKUs(), nil }
}

func TestAuthenticate(t *testing.T) {
	s := MustOpenServer(t, skuStore)
	const path = "/v1/instances/sku?type=0"

	t.Run("ErrTokenNotFound", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {"X-Auth-Token": ""}} {
			resp := s.Do(t, "GET", path, h, "")
			assertError(t, resp, 401, phonefleet.EUnauthorized, "Incorrect IAM authentication information: x-auth-token not found")
			if got, want := resp.Envelope(t).RequestID, resp.Header.Get("X-Request-Id"); got != want {
				t.Fatalf("request_id=%q, want %q", got, want)
			}
		}
	})
	t.Run("ErrTokenInvalid", func(t *testing.T) {
		for _, tok := range []string{"nope", revokedToken, adminToken + "x"} {
			resp := s.Get(t, path, tok)
			assertError(t, resp, 401, phonefleet.EUnauthorized, "Incorrect IAM authentication information: token is invalid")
		}
	})
	t.Run("ErrTokenExpired", func(t *testing.T) {
		resp := s.Get(t, path, expiredToken)
		assertError(t, resp, 401, phonefleet.EUnauthorized, "Incorrect IAM authentication information: token expires, expires_at: 2026-03-01T11:59:00Z")
	})
	t.Run("ExactBody", func(t *testing.T) {
		resp := s.Do(t, "GET", path, map[string]string{"X-Request-Id": "req-401"}, "")
		if got, want := string(resp.Body), `{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: x-auth-token not found","request_id":"req-401"}`; got != want {
			t.Fatalf("body=%s, want %s", got, want)
		}
	})
	t.Run("AnyCase", func(t *testing.T) {
		for _, key := range []string{"x-auth-token", "X-AUTH-TOKEN", "X-Auth-Token"} {
			if resp := s.Do(t, "GET", path, map[string]string{key: adminToken}, ""); resp.StatusCode != 200 {
				t.Fatalf("%s: StatusCode=%d, want 200", key, resp.StatusCode)
			}
		}
	})
	t.Run("ErrStoreDown", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.FindTokenByHashFn = func(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
				return nil, errors.New("connection refused")
			}
		})
		assertError(t, s.Get(t, path, adminToken), 500, phonefleet.EInternal, "Internal service error.")
	})
	t.Run("NotAudited", func(t *testing.T) {
		s := MustOpenServer(t)
		s.Post(t, "/v1/instances/delete", "nope", `{"instanceIdList":["a"]}`)
		if n := len(s.Audits()); n != 0 {
			t.Fatalf("audit events=%d, want 0", n)
		}
	})
}

// countLookups makes the store count token lookups in n.
func countLookups(n *atomic.Int32) func(*TestServer) {
	return func(s *TestServer) {
		find := s.Store.FindTokenByHashFn
		s.Store.FindTokenByHashFn = func(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
			n.Add(1)
			return find(ctx, hash)
		}
	}
}

func TestAuthenticate_TokenCache(t *testing.T) {
	var now atomic.Pointer[time.Time]
	var lookups atomic.Int32
	s := MustOpenServer(t, skuStore, countLookups(&lookups), func(s *TestServer) {
		s.Server.TokenCacheTTL = 5 * time.Second
		s.Server.Now = func() time.Time { return *now.Load() }
	})
	set := func(t time.Time) { now.Store(&t) }
	set(testNow)

	for _, tok := range []string{adminToken, "unknown-token"} {
		lookups.Store(0)
		for range 3 {
			s.Get(t, "/v1/instances/sku?type=0", tok)
		}
		if n := lookups.Load(); n != 1 {
			t.Fatalf("%s: lookups=%d in the TTL, want 1", tok, n)
		}
	}
	// Past the TTL the token is looked up again.
	set(testNow.Add(5 * time.Second))
	lookups.Store(0)
	s.Get(t, "/v1/instances/sku?type=0", adminToken)
	if n := lookups.Load(); n != 1 {
		t.Fatalf("lookups=%d after the TTL, want 1", n)
	}
	// A cached token is still checked for expiry on every request.
	set(testNow.Add(time.Hour + time.Second))
	assertError(t, s.Get(t, "/v1/instances/sku?type=0", adminToken), 401, phonefleet.EUnauthorized,
		"Incorrect IAM authentication information: token expires, expires_at: 2026-03-01T13:00:00Z")
}

func TestAuthenticate_NoCache(t *testing.T) {
	var lookups atomic.Int32
	s := MustOpenServer(t, skuStore, countLookups(&lookups))
	s.Get(t, "/v1/instances/sku?type=0", adminToken)
	s.Get(t, "/v1/instances/sku?type=0", adminToken)
	if n := lookups.Load(); n != 2 {
		t.Fatalf("lookups=%d with TokenCacheTTL 0, want 2", n)
	}
}

func TestRequireAction(t *testing.T) {
	s := MustOpenServer(t)
	t.Run("ViewerDelete", func(t *testing.T) {
		// The action is checked before the parameters: the body is bad too.
		// At is left for the store to stamp with its business time.
		resp := s.Do(t, "POST", "/v1/instances/delete", map[string]string{"X-Auth-Token": viewerToken, "X-Request-Id": "req-viewer"}, `not json`)
		assertError(t, resp, 400, phonefleet.EForbidden, "the token lacks the action koophone:cloudphoneResource:instanceDelete")
		audits := s.Audits()
		if len(audits) != 1 {
			t.Fatalf("audit events=%d, want 1", len(audits))
		}
		if e := audits[0]; e.Action != phonefleet.ActionInstanceDelete || e.ErrorCode != phonefleet.EForbidden ||
			e.RequestID != "req-viewer" || e.TenantID != "t1" || e.TokenID != "tkviewer" || !e.At.IsZero() {
			t.Fatalf("audit event=%+v", e)
		}
	})
	t.Run("ViewerCreate", func(t *testing.T) {
		resp := s.Post(t, "/v1/instances/create", viewerToken, `{}`)
		assertError(t, resp, 400, phonefleet.EForbidden, "the token lacks the action koophone:cloudphoneResource:instanceCreate")
	})
	t.Run("AuthBeforeParameters", func(t *testing.T) {
		resp := s.Do(t, "POST", "/v1/instances/delete", map[string]string{"Content-Type": "text/plain"}, `x`)
		assertError(t, resp, 401, phonefleet.EUnauthorized, "Incorrect IAM authentication information: x-auth-token not found")
	})
}

func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	s := MustOpenServer(t, skuStore, func(s *TestServer) {
		s.Server.RateLimit, s.Server.RateBurst = 1, 2
		s.Server.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	const path = "/v1/instances/sku?type=0"
	for i := range 2 {
		if resp := s.Get(t, path, adminToken); resp.StatusCode != 200 {
			t.Fatalf("request %d: StatusCode=%d, want 200", i, resp.StatusCode)
		}
	}
	resp := s.Get(t, path, viewerToken) // same tenant, another token
	assertError(t, resp, 429, phonefleet.ERateLimited, "The throttling threshold has been reached: tenant over rate limit of 1 requests/s")
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After=%q, want 1", got)
	}
	// Another tenant has its own bucket.
	if resp := s.Get(t, path, otherToken); resp.StatusCode != 200 {
		t.Fatalf("other tenant: StatusCode=%d, want 200", resp.StatusCode)
	}
	// A second later one more request is allowed, and only one.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if resp := s.Get(t, path, adminToken); resp.StatusCode != 200 {
		t.Fatalf("after refill: StatusCode=%d, want 200", resp.StatusCode)
	}
	if resp := s.Get(t, path, adminToken); resp.StatusCode != 429 {
		t.Fatalf("after refill: StatusCode=%d, want 429", resp.StatusCode)
	}
}

// TestRateLimit_ByCost: a listing is charged by the rows it asks for (one
// token per 100), so big pages use the tenant's rate up sooner.
func TestRateLimit_ByCost(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	s := MustOpenServer(t, func(s *TestServer) {
		s.Server.RateLimit, s.Server.RateBurst = 10, 20
		s.Server.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s.Store.FindInstancesFn = func(ctx context.Context, f phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
			return nil, 0, nil
		}
	})
	big := "/v1/instances/batch-query?page_no=1&page_size=1000" // 10 tokens
	for i := range 2 {
		if resp := s.Get(t, big, adminToken); resp.StatusCode != 200 {
			t.Fatalf("page of 1000, request %d: %d, want 200", i, resp.StatusCode)
		}
	}
	assertError(t, s.Get(t, big, adminToken), 429, phonefleet.ERateLimited, "The throttling threshold has been reached: tenant over rate limit of 10 requests/s")
	// Small pages cost one token each: after 1 s (10 tokens) ten pass.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	for i := range 10 {
		if resp := s.Get(t, "/v1/instances/batch-query?page_no=1&page_size=10", adminToken); resp.StatusCode != 200 {
			t.Fatalf("small page %d: %d, want 200", i, resp.StatusCode)
		}
	}
	if resp := s.Get(t, "/v1/instances/batch-query?page_no=1&page_size=10", adminToken); resp.StatusCode != 429 {
		t.Fatalf("eleventh small page: %d, want 429", resp.StatusCode)
	}
}
