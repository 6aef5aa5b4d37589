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
		audited := len(mustAudit(t, e))
		bad := []struct{ body, msg string }{
			{`{}`, "give exactly one of advance"},
			{`{"advance":"1h","now":"2030-01-01T00:00:00Z"}`, "give exactly one of advance"},
			{`{"advance":"-1h"}`, "advance must not be negative"},
			{`{"advance":"-1ns"}`, "advance must not be negative"},
			{`{"advance":"5 days"}`, "advance must be a duration"},
			{`{"advance":3600}`, "advance must be a string"},
			{`{"advance":"88000000h"}`, "advance 88000000h is too large"},
			{`{"advance":"70000000h"}`, "advance 70000000h0m0s would move business time past 9999-12-31T23:59:59.999999999Z"},
			{`{"Advance":"1h"}`, `member "Advance" is not known`},
			{`{"now":"2030-01-01"}`, "now must be an RFC 3339 time"},
			{`{"now":"10000-01-01T00:00:00Z"}`, "now must be an RFC 3339 time"},
			{`{"now":"9999-12-31T23:59:59-01:00"}`, "now must be at most 9999-12-31T23:59:59.999999999Z"},
			{fmt.Sprintf(`{"now":%q}`, before.Add(-time.Nanosecond).Format(time.RFC3339Nano)), "now must not be in the past"},
		}
		for _, tc := range bad {
			status, _, env := e.Call(t, "POST", "/v1/_test/clock", admin, tc.body, "", nil)
			if status != 400 || env.Code != phonefleet.EInvalid || !strings.Contains(env.Message, tc.msg) {
				t.Fatalf("%s: %d %+v, want 1000 containing %q", tc.body, status, env, tc.msg)
			}
		}
		if got := e.clockNow(t, admin); !got.Equal(before) {
			t.Fatalf("business now=%v after bad input, want %v", got, before)
		}
		// Each refused move is audited as a failure.
		events := mustAudit(t, e)
		if len(events) != audited+len(bad) || events[0].Action != phonefleet.AuditActionClockMove || events[0].ErrorCode != phonefleet.EInvalid {
			t.Fatalf("audit after %d refused moves: %d events (was %d), newest %+v", len(bad), len(events), audited, events[0])
		}
	})

	// Any non-negative advance moves the clock by exactly that much.
	t.Run("Advance", func(t *testing.T) {
		for _, tc := range []struct {
			d    string
			want time.Duration
		}{{"0s", 0}, {"0", 0}, {"1ns", 1}, {"1us", time.Microsecond}, {"1µs", time.Microsecond}, {"121h", 121 * time.Hour}} {
			before := e.clockNow(t, admin)
			var data struct{ Now string }
			status, b, _ := e.Call(t, "POST", "/v1/_test/clock", admin, fmt.Sprintf(`{"advance":%q}`, tc.d), "", &data)
			want := before.Add(tc.want).Format(time.RFC3339Nano)
			if status != 200 || data.Now != want {
				t.Fatalf("advance %s from %v: %d %s, want %s", tc.d, before, status, b, want)
			}
			if got := e.clockNow(t, admin).Format(time.RFC3339Nano); got != want {
				t.Fatalf("GET after advance %s=%s, want %s", tc.d, got, want)
			}
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

// mustAudit returns the audit trail, newest first.
func mustAudit(tb testing.TB, e *E2E) []*phonefleet.AuditEvent {
	tb.Helper()
	events, err := e.DB.FindAuditEvents(tb.Context(), phonefleet.AuditFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	return events
}

// TestTestClock_PerTenant: each tenant's admin reads and moves only its own
// tenant's clock; one tenant's advance leaves another's refund as it was;
// times up to the end of year 9999 round-trip exactly (what POST answers is
// what GET returns and what a purchase then records), and every move is an
// audit event of its tenant naming who moved it.
func TestTestClock_PerTenant(t *testing.T) {
	e := mustOpenE2E(t, true)
	acmeID, tokA := e.MustTenant(t, "acme")
	_, tokB := e.MustTenant(t, "beta")
	start := e.Now()

	// Beta on its day 6, then acme moves 10 days: beta's refund stays.
	id := e.MustBuy(t, tokB, 1, 1)[0]
	mustMove(t, e, tokB, `{"advance":"144h"}`, start.Add(144*time.Hour))
	dry := func() string {
		_, b, _ := e.Call(t, "POST", "/v1/instances/delete?dry_run=true", tokB, fmt.Sprintf(`{"instanceIdList":[%q]}`, id), "", nil)
		return string(b)
	}
	before := dry()
	mustMove(t, e, tokA, `{"advance":"240h"}`, start.Add(240*time.Hour))
	if got := e.clockNow(t, tokB); !got.Equal(start.Add(144 * time.Hour)) {
		t.Fatalf("beta's clock=%v after acme's advance, want %v", got, start.Add(144*time.Hour))
	}
	if after := dry(); after != before || !strings.Contains(before, `"handlingFee":199`) {
		t.Fatalf("beta's dry run after acme's advance:\n%s\nbefore:\n%s (want a prorated refund)", after, before)
	}

	// Year 2400 and the last microseconds of 9999, exactly.
	for _, now := range []string{"2400-01-01T00:00:00Z", "2400-01-01T00:00:00.000000001Z", "9999-12-31T23:59:59.999999999Z"} {
		want, _ := time.Parse(time.RFC3339Nano, now)
		mustMove(t, e, tokA, fmt.Sprintf(`{"now":%q}`, now), want)
		if got := e.clockNow(t, tokA); !got.Equal(want) {
			t.Fatalf("GET after now %s: %v", now, got)
		}
		body := `{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
			`"instanceNamePrefix":"f","bandSize":4,"count":1,"chargeParam":{"chargingMode":0}}`
		var bought struct{ InstanceInfos []struct{ InstanceID string } }
		if status, b, _ := e.Call(t, "POST", "/v1/instances/create", tokA, body, "", &bought); status != 200 || len(bought.InstanceInfos) != 1 {
			t.Fatalf("buy at %s: %d %s", now, status, b)
		}
		ins, _, err := e.DB.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: acmeID, ID: &bought.InstanceInfos[0].InstanceID})
		if err != nil || len(ins) != 1 || !ins[0].StartsAt.Equal(want) {
			t.Fatalf("instance bought at business time %s: %+v, %v", now, ins, err)
		}
	}
	// At the end of year 9999: 0s still moves nothing, 1ns is refused
	// (naming advance); beta is still on its day 6.
	mustMove(t, e, tokA, `{"advance":"0s"}`, phonefleet.MaxBusinessTime)
	if status, _, env := e.Call(t, "POST", "/v1/_test/clock", tokA, `{"advance":"1ns"}`, "", nil); status != 400 || !strings.Contains(env.Message, "advance 1ns would move business time past") {
		t.Fatalf("advance 1ns at the end of 9999: %d %+v", status, env)
	}
	if got := e.clockNow(t, tokB); !got.Equal(start.Add(144 * time.Hour)) {
		t.Fatalf("beta's clock=%v, want %v", got, start.Add(144*time.Hour))
	}

	// The moves are audited with their tenant, times and token.
	var moves []string
	for _, ev := range mustAudit(t, e) {
		if ev.Action == phonefleet.AuditActionClockMove && ev.ErrorCode == phonefleet.ECodeOK {
			moves = append(moves, ev.TenantName+": "+ev.Detail)
			if ev.TokenID == "" || ev.RequestID == "" || ev.ClientAddr != "127.0.0.1" {
				t.Fatalf("clock move audited without its token, request or client address: %+v", ev)
			}
		}
	}
	if len(moves) != 6 || !strings.HasPrefix(moves[5], "beta: test clock moved from "+start.Format(time.RFC3339Nano)+" to "+start.Add(144*time.Hour).Format(time.RFC3339Nano)+" (advance 144h0m0s) by token ") ||
		!strings.HasPrefix(moves[1], "acme: test clock moved from 2400-01-01T00:00:00.000000001Z to 9999-12-31T23:59:59.999999999Z (now 9999-12-31T23:59:59.999999999Z) by token ") {
		t.Fatalf("clock moves audited:\n%s", strings.Join(moves, "\n"))
	}
}

// mustMove posts body to the test clock with token and checks that the
// answer is want, exactly.
func mustMove(tb testing.TB, e *E2E, token, body string, want time.Time) {
	tb.Helper()
	var data struct{ Now string }
	status, b, _ := e.Call(tb, "POST", "/v1/_test/clock", token, body, "", &data)
	if status != 200 || data.Now != want.UTC().Format(time.RFC3339Nano) {
		tb.Fatalf("POST /v1/_test/clock %s: %d %s, want %s", body, status, b, want.UTC().Format(time.RFC3339Nano))
	}
}
