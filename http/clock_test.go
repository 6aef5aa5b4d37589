package http_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// clockNow calls GET /v1/_test/clock and returns the business time.
func (e *E2E) clockNow(tb testing.TB, token string) time.Time {
	tb.Helper()
	var data struct{ Now string }
	status, b, _ := e.Call(tb, "GET", "/v1/_test/clock", token, "", "", &data)
	now, err := time.Parse(time.RFC3339Nano, data.Now)
	if status != 200 || err != nil {
		tb.Fatalf("GET /v1/_test/clock: %d %s", status, b)
	}
	return now
}

func TestTestClock(t *testing.T) {
	t.Run("Off", func(t *testing.T) {
		e := MustOpenE2E(t)
		_, token := e.MustTenant(t, "acme")
		for _, tc := range []struct{ method, token, body string }{
			{"GET", token, ""}, {"POST", token, `{"advance":"1h"}`}, {"GET", "", ""}, {"POST", "", `{}`}, {"PUT", token, `{}`},
		} {
			status, _, env := e.Call(t, tc.method, "/v1/_test/clock", tc.token, tc.body, "", nil)
			if status != 404 || env.Code != phonefleet.ENoSuchAPI {
				t.Fatalf("%s without --test-clock: %d %s, want 404 APIGW.0101", tc.method, status, env.Code)
			}
		}
	})

	e := mustOpenE2E(t, true)
	tenantID, admin := e.MustTenant(t, "acme")

	t.Run("Auth", func(t *testing.T) {
		if status, _, env := e.Call(t, "GET", "/v1/_test/clock", "", "", "", nil); status != 401 || env.Code != phonefleet.EUnauthorized {
			t.Fatalf("no token: %d %s", status, env.Code)
		}
		viewer := mustViewerToken(t, e, tenantID)
		status, _, env := e.Call(t, "POST", "/v1/_test/clock", viewer, `{"advance":"1h"}`, "", nil)
		if status != 400 || env.Code != phonefleet.EForbidden || !strings.Contains(env.Message, "admin") {
			t.Fatalf("viewer token: %d %+v, want 1001", status, env)
		}
		if got := e.clockNow(t, admin); !got.Equal(e.Now()) {
			t.Fatalf("business now=%v after a refused move, want %v", got, e.Now())
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		before := e.clockNow(t, admin)
		for _, tc := range []struct{ body, msg string }{
			{`{}`, "give exactly one of advance"},
			{`{"advance":"1h","now":"2030-01-01T00:00:00Z"}`, "give exactly one of advance"},
			{`{"advance":"-1h"}`, "advance must not be negative"},
			{`{"advance":"5 days"}`, "advance must be a duration"},
			{`{"advance":3600}`, "advance must be a string"},
			{`{"Advance":"1h"}`, `member "Advance" is not known`},
			{`{"now":"2030-01-01"}`, "now must be an RFC 3339 time"},
			{fmt.Sprintf(`{"now":%q}`, before.Add(-time.Second).Format(time.RFC3339Nano)), "now must not be in the past"},
		} {
			status, _, env := e.Call(t, "POST", "/v1/_test/clock", admin, tc.body, "", nil)
			if status != 400 || env.Code != phonefleet.EInvalid || !strings.Contains(env.Message, tc.msg) {
				t.Fatalf("%s: %d %+v, want 1000 containing %q", tc.body, status, env, tc.msg)
			}
		}
		if got := e.clockNow(t, admin); !got.Equal(before) {
			t.Fatalf("business now=%v after bad input, want %v", got, before)
		}
	})

	// The refund rule on business time: five days bought, full refund on
	// day 4, prorated on day 6. Tokens keep wall time.
	t.Run("Refunds", func(t *testing.T) {
		ids := e.MustBuy(t, admin, 2, 1)
		start := e.clockNow(t, admin)
		short := mustTokenTTL(t, e, tenantID, time.Hour)
		var data struct{ Now string }
		status, b, _ := e.Call(t, "POST", "/v1/_test/clock", admin, `{"advance":"96h"}`, "", &data)
		if status != 200 || data.Now != start.Add(96*time.Hour).Format(time.RFC3339Nano) {
			t.Fatalf("advance 96h: %d %s, want %v", status, b, start.Add(96*time.Hour))
		}
		refund := func(id string) (paid, amount int64) {
			var dry struct {
				Instances []struct{ PaidAmount, RefundAmount int64 }
			}
			status, b, _ := e.Call(t, "POST", "/v1/instances/delete?dry_run=true", admin, fmt.Sprintf(`{"instanceIdList":[%q]}`, id), "", &dry)
			if status != 200 || len(dry.Instances) != 1 {
				t.Fatalf("dry run: %d %s", status, b)
			}
			return dry.Instances[0].PaidAmount, dry.Instances[0].RefundAmount
		}
		if paid, amount := refund(ids[0]); amount != paid {
			t.Fatalf("business day 4: refund %d of %d, want all", amount, paid)
		}
		target := start.Add(6 * 24 * time.Hour).Format(time.RFC3339Nano)
		if status, b, _ := e.Call(t, "POST", "/v1/_test/clock", admin, fmt.Sprintf(`{"now":%q}`, target), "", nil); status != 200 {
			t.Fatalf("set now: %d %s", status, b)
		}
		if paid, amount := refund(ids[1]); amount >= paid {
			t.Fatalf("business day 6: refund %d of %d, want prorated", amount, paid)
		}
		// Six business days later a one-hour token issued before the moves
		// still works: token expiry is on wall time.
		if status, _, _ := e.Call(t, "GET", "/v1/_test/clock", short, "", "", nil); status != 200 {
			t.Fatalf("a one-hour token after moving the clock 6 days: %d", status)
		}
	})
}

// mustViewerToken issues a viewer token of the tenant.
func mustViewerToken(tb testing.TB, e *E2E, tenantID string) string {
	tb.Helper()
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(phonefleet.RoleViewer)
	if err := e.DB.CreateToken(tb.Context(), &phonefleet.Token{
		ID: id, TenantID: tenantID, Actions: actions, Hash: phonefleet.HashToken(secret), CreatedAt: e.Now(), ExpiresAt: e.Now().Add(time.Hour),
	}); err != nil {
		tb.Fatal(err)
	}
	return secret
}

// mustTokenTTL issues an admin token of the tenant that lives ttl of wall time.
func mustTokenTTL(tb testing.TB, e *E2E, tenantID string, ttl time.Duration) string {
	tb.Helper()
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
	if err := e.DB.CreateToken(tb.Context(), &phonefleet.Token{
		ID: id, TenantID: tenantID, Actions: actions, Hash: phonefleet.HashToken(secret), CreatedAt: e.Now(), ExpiresAt: e.Now().Add(ttl),
	}); err != nil {
		tb.Fatal(err)
	}
	return secret
}
