package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

const deletePath = "/v1/instances/delete"

func TestInstanceDelete(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		var woken atomic.Int32
		var got *phonefleet.UnsubscribeRequest
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
				got = req
				return &phonefleet.UnsubscribePlan{Currency: "USD"}, nil
			}
			s.Server.OnCommand = func() { woken.Add(1) }
		})
		resp := s.Do(t, "POST", deletePath, map[string]string{
			"X-Auth-Token": adminToken, "Content-Type": "application/json; charset=utf-8", "X-Request-Id": "req-del",
		}, ` {"instanceIdList": ["XvH39QVW", "a44uhlf7"], "reason": "unused"}`+"\n")
		if resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200 (%s)", resp.StatusCode, resp.Body)
		}
		if got, want := string(resp.Body), `{"data":null,"error_code":"0","error_msg":"OK"}`; got != want {
			t.Fatalf("body=%s, want %s", got, want)
		}
		want := &phonefleet.UnsubscribeRequest{TenantID: "t1", TokenID: "tkadmin", Actor: "tkadmin", ClientAddr: "127.0.0.1", RequestID: "req-del", InstanceIDs: []string{"XvH39QVW", "a44uhlf7"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("request=%+v, want %+v", got, want)
		}
		if n := woken.Load(); n != 1 {
			t.Fatalf("OnCommand called %d times, want 1", n)
		}
		if n := len(s.Audits()); n != 0 {
			t.Fatalf("handler wrote %d audit events, want 0 (the store audits)", n)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		var woken atomic.Int32
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
				if !req.DryRun {
					t.Error("DryRun=false")
				}
				return &phonefleet.UnsubscribePlan{Currency: "USD", TotalRefund: 1200, Items: []phonefleet.UnsubscribeItem{
					{InstanceID: "a", Refund: phonefleet.Refund{Paid: 1990, Consumed: 591, Fee: 199, Amount: 1200}},
					{InstanceID: "b", Noop: true, Refund: phonefleet.Refund{Paid: 1990}},
				}}, nil
			}
			s.Server.OnCommand = func() { woken.Add(1) }
		})
		resp := s.Post(t, deletePath+"?dry_run=true", adminToken, `{"instanceIdList":["a","b"]}`)
		want := `{"data":{"dryRun":true,"currency":"USD","totalRefund":1200,"instances":[` +
			`{"instanceId":"a","paidAmount":1990,"consumedAmount":591,"handlingFee":199,"refundAmount":1200,"noop":false},` +
			`{"instanceId":"b","paidAmount":1990,"consumedAmount":0,"handlingFee":0,"refundAmount":0,"noop":true}]},` +
			`"error_code":"0","error_msg":"OK"}`
		if got := string(resp.Body); resp.StatusCode != 200 || got != want {
			t.Fatalf("StatusCode=%d body=%s, want 200 %s", resp.StatusCode, got, want)
		}
		if n := woken.Load(); n != 0 {
			t.Fatalf("OnCommand called %d times on a dry run, want 0", n)
		}
	})

	t.Run("DryRunFalse", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
				if req.DryRun {
					t.Error("DryRun=true")
				}
				return &phonefleet.UnsubscribePlan{}, nil
			}
		})
		if resp := s.Post(t, deletePath+"?dry_run=false", adminToken, `{"instanceIdList":["a"]}`); resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200", resp.StatusCode)
		}
	})

	t.Run("StoreErrors", func(t *testing.T) {
		for _, err := range []*phonefleet.Error{
			phonefleet.Errorf(phonefleet.ENotOwned, "instances do not belong to the tenant: b"),
			phonefleet.Errorf(phonefleet.EPayPerUse, "pay-per-use instances cannot be unsubscribed: a"),
		} {
			s := MustOpenServer(t, func(s *TestServer) {
				s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
					return nil, err
				}
			})
			assertError(t, s.Post(t, deletePath, adminToken, `{"instanceIdList":["a","b"]}`), 400, err.Code, err.Message)
		}
	})
}

// badIDListCases are the bodies every ID-list endpoint rejects, with the
// message for field.
func badIDListCases(field string) []struct{ name, body, msg string } {
	ids := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("%q", fmt.Sprintf("id%d", i))
		}
		return strings.Join(s, ",")
	}
	return []struct{ name, body, msg string }{
		{"Malformed", `{"` + field + `": [`, "request body must be valid JSON"},
		{"MalformedString", `{"` + field + `": ["a]}`, "request body must be valid JSON"},
		{"Empty", ``, "request body must be a JSON object"},
		{"Whitespace", " \n", "request body must be a JSON object"},
		{"Array", `[]`, "request body must be a JSON object"},
		{"Null", `null`, "request body must be a JSON object"},
		{"String", `"x"`, "request body must be a JSON object"},
		{"Number", `1`, "request body must be a JSON object"},
		{"Missing", `{}`, field + " is required"},
		{"OtherCase", `{"` + strings.ToUpper(field) + `":["a"]}`, `request body member "` + strings.ToUpper(field) + `" is not known (did you mean "` + field + `"?)`},
		{"UnknownMember", `{"other":["a"]}`, field + " is required"},
		{"NullList", `{"` + field + `":null}`, field + " is required"},
		{"EmptyList", `{"` + field + `":[]}`, field + " must contain 1-100 instance IDs"},
		{"NotArray", `{"` + field + `":"a"}`, field + " must be an array of strings"},
		{"Object", `{"` + field + `":{"a":1}}`, field + " must be an array of strings"},
		{"TooMany", `{"` + field + `":[` + ids(101) + `]}`, field + " must contain at most 100 instance IDs, got 101"},
		{"TooLong", `{"` + field + `":["a","` + strings.Repeat("x", 33) + `"]}`, field + "[1] must be 1-32 characters of [A-Za-z0-9_-]"},
		{"EmptyID", `{"` + field + `":[""]}`, field + "[0] must be 1-32 characters of [A-Za-z0-9_-]"},
		{"BadChar", `{"` + field + `":["a","b","c d"]}`, field + "[2] must be 1-32 characters of [A-Za-z0-9_-]"},
		{"NotString", `{"` + field + `":["a","b","c",4]}`, field + "[3] must be a string"},
		{"NullID", `{"` + field + `":[null]}`, field + "[0] must be a string"},
		{"NestedID", `{"` + field + `":[["a"]]}`, field + "[0] must be a string"},
		{"Duplicate", `{"` + field + `":["a","b","a"]}`, field + ` has duplicate instance ID "a"`},
		{"TrailingObject", `{"` + field + `":["a"]} {}`, "request body must hold a single JSON object with nothing after it"},
		{"TrailingGarbage", `{"` + field + `":["a"]}x`, "request body must hold a single JSON object with nothing after it"},
		{"TrailingBrace", `{"` + field + `":["a"]}}`, "request body must hold a single JSON object with nothing after it"},
	}
}

func TestInstanceDelete_BadInput(t *testing.T) {
	s := MustOpenServer(t) // UnsubscribeFn is nil: reaching the store would panic and answer 500
	for i, tc := range badIDListCases("instanceIdList") {
		t.Run(tc.name, func(t *testing.T) {
			rid := fmt.Sprintf("req-bad-%d", i)
			resp := s.Do(t, "POST", deletePath, map[string]string{
				"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": rid,
			}, tc.body)
			assertError(t, resp, 400, phonefleet.EInvalid, tc.msg)
			assertAudited(t, s, rid, phonefleet.ActionInstanceDelete, phonefleet.EInvalid, tc.msg)
		})
	}

	t.Run("ContentType", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/jsonx", "application/x-www-form-urlencoded", "application/json; charset", "json"} {
			h := map[string]string{"X-Auth-Token": adminToken, "X-Request-Id": "req-ct"}
			if ct != "" {
				h["Content-Type"] = ct
			}
			resp := s.Do(t, "POST", deletePath, h, `{"instanceIdList":["a"]}`)
			assertError(t, resp, 400, phonefleet.EInvalid, "Content-Type must be application/json")
		}
		assertAudited(t, s, "req-ct", phonefleet.ActionInstanceDelete, phonefleet.EInvalid, "Content-Type must be application/json")
	})

	t.Run("TooLarge", func(t *testing.T) {
		body := `{"instanceIdList":["` + strings.Repeat("a", 1<<20) + `"]}`
		resp := s.Do(t, "POST", deletePath, map[string]string{
			"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "req-large",
		}, body)
		assertError(t, resp, 413, phonefleet.EInvalid, "request body must be at most 1 MiB (1048576 bytes)")
		assertAudited(t, s, "req-large", phonefleet.ActionInstanceDelete, phonefleet.EInvalid, "request body must be at most 1 MiB (1048576 bytes)")
	})

	t.Run("DryRunValue", func(t *testing.T) {
		for _, q := range []string{"?dry_run=yes", "?dry_run=", "?dry_run=1", "?dry_run=TRUE"} {
			resp := s.Post(t, deletePath+q, adminToken, `{"instanceIdList":["a"]}`)
			assertError(t, resp, 400, phonefleet.EInvalid, "dry_run must be true or false")
		}
	})

	t.Run("AuditedIDs", func(t *testing.T) {
		resp := s.Do(t, "POST", deletePath, map[string]string{
			"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "req-dup",
		}, `{"instanceIdList":["a","b","a"]}`)
		assertError(t, resp, 400, phonefleet.EInvalid, `instanceIdList has duplicate instance ID "a"`)
		e := assertAudited(t, s, "req-dup", phonefleet.ActionInstanceDelete, phonefleet.EInvalid, `instanceIdList has duplicate instance ID "a"`)
		if want := []string{"a", "b", "a"}; !reflect.DeepEqual(e.InstanceIDs, want) {
			t.Fatalf("audited IDs=%q, want %q", e.InstanceIDs, want)
		}
		if e.TenantID != "t1" || e.TokenID != "tkadmin" {
			t.Fatalf("audited tenant/token=%q/%q, want t1/tkadmin", e.TenantID, e.TokenID)
		}
	})
}

// assertAudited fails unless exactly one audit event has the request ID,
// and it records action, code and msg.
func assertAudited(tb testing.TB, s *TestServer, requestID, action, code, msg string) *phonefleet.AuditEvent {
	tb.Helper()
	var found []*phonefleet.AuditEvent
	for _, e := range s.Audits() {
		if e.RequestID == requestID {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		tb.Fatalf("no audit event for %s", requestID)
	}
	e := found[len(found)-1]
	if e.Action != action || e.ErrorCode != code || e.Detail != msg {
		tb.Fatalf("audit event=%s %s %q, want %s %s %q", e.Action, e.ErrorCode, e.Detail, action, code, msg)
	}
	return e
}

func TestInstanceBatchQueryStatus(t *testing.T) {
	const path = "/v1/instances/batch-query-status"
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.FindInstanceStatusesFn = func(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceStatus, error) {
				if tenantID != "t1" || !reflect.DeepEqual(ids, []string{"run", "gone", "del", "rel", "boot", "wipe"}) {
					t.Errorf("FindInstanceStatuses(%q, %q)", tenantID, ids)
				}
				return map[string]phonefleet.InstanceStatus{
					"run": {State: phonefleet.InstanceStateRunning}, "del": {State: phonefleet.InstanceStateDeleting},
					"rel":  {State: phonefleet.InstanceStateReleased},
					"boot": {State: phonefleet.InstanceStateRunning, Command: phonefleet.CommandReboot},
					"wipe": {State: phonefleet.InstanceStateRunning, Command: phonefleet.CommandWipeUserData},
				}, nil
			}
		})
		// A viewer may ask.
		resp := s.Post(t, path, viewerToken, `{"instance_ids":["run","gone","del","rel","boot","wipe"]}`)
		want := `{"data":{"status_results":[{"instance_id":"run","status":2},{"instance_id":"gone","status":0},` +
			`{"instance_id":"del","status":3},{"instance_id":"rel","status":0},{"instance_id":"boot","status":4},` +
			`{"instance_id":"wipe","status":2}]},"error_code":"0","error_msg":"OK"}`
		if got := string(resp.Body); resp.StatusCode != 200 || got != want {
			t.Fatalf("StatusCode=%d body=%s, want 200 %s", resp.StatusCode, got, want)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		s := MustOpenServer(t)
		for _, tc := range badIDListCases("instance_ids") {
			assertError(t, s.Post(t, path, adminToken, tc.body), 400, phonefleet.EInvalid, tc.msg)
		}
		resp := s.Do(t, "POST", path, map[string]string{"X-Auth-Token": adminToken, "X-Request-Id": "r1"}, `{"instance_ids":["a"]}`)
		assertError(t, resp, 400, phonefleet.EInvalid, "Content-Type must be application/json")
		// x-request-id is required here, as KooPhone documents: missing is
		// 0002 (before the action check), malformed is 1000 naming it.
		resp = s.Do(t, "POST", path, map[string]string{"X-Auth-Token": adminToken, "Content-Type": "application/json"}, `{"instance_ids":["a"]}`)
		assertError(t, resp, 400, phonefleet.ENoRequestID, "missing request header 'x-request-id'.")
		resp = s.Do(t, "POST", path, map[string]string{"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "bad id!"}, `{"instance_ids":["a"]}`)
		assertError(t, resp, 400, phonefleet.EInvalid, "x-request-id must be 1-64 characters of [A-Za-z0-9._-]")
		if n := len(s.Audits()); n != 0 {
			t.Fatalf("audit events=%d for a query, want 0", n)
		}
	})
}

func TestInstanceBatchQuery(t *testing.T) {
	const path = "/v1/instances/batch-query"
	t.Run("OK", func(t *testing.T) {
		created := time.Date(2026, 2, 1, 10, 30, 0, 500, time.UTC)
		expires := created.AddDate(0, 1, 0)
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.FindInstancesFn = func(ctx context.Context, f phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
				from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				to := time.Date(2026, 2, 28, 23, 59, 59, 999999999, time.UTC)
				id, name, user := "abc", "web-0001", "alice@x.io"
				want := phonefleet.InstanceFilter{TenantID: "t1", ID: &id, Name: &name, CreatedFrom: &from, CreatedTo: &to,
					AssignUser: &user, IncludeReleased: true, Offset: 20, Limit: 10}
				if !reflect.DeepEqual(f, want) {
					t.Errorf("filter=%+v, want %+v", f, want)
				}
				return []*phonefleet.Instance{
					{ID: "abc", Name: "web-0001", RegionID: "cn-north-4", SKUSpec: "Pro | 2 vCPUs", BillingMode: phonefleet.BillingModeMonthly,
						State: phonefleet.InstanceStateDeleting, CreatedAt: created, ExpiresAt: &expires},
					{ID: "def", Name: "web-0002", RegionID: "cn-north-4", SKUSpec: "Pro | 2 vCPUs", BillingMode: phonefleet.BillingModePayPerUse,
						State: phonefleet.InstanceStateRunning, CreatedAt: created, AssignUser: "alice@x.io", Command: phonefleet.CommandReboot},
				}, 22, nil
			}
		})
		resp := s.Get(t, path+"?page_no=3&page_size=10&instance_id=abc&instance_name=web-0001"+
			"&query_start_time=2026-01-01+00:00:00&query_end_time=2026-02-28%2023:59:59&include_released=true&assign_user=alice@x.io", viewerToken)
		want := `{"data":{"result":[` +
			`{"instance_id":"abc","instance_name":"web-0001","region":"cn-north-4","instance_sku":"Pro | 2 vCPUs","frozen_status":0,"expire_status":0,` +
			`"running_status":3,"assign_status":0,"assign_user":"","billing_mode":"prePaid","state":"deleting","created_at":"2026-02-01T10:30:00Z","expires_at":"2026-03-01T10:30:00Z"},` +
			`{"instance_id":"def","instance_name":"web-0002","region":"cn-north-4","instance_sku":"Pro | 2 vCPUs","frozen_status":0,"expire_status":0,` +
			`"running_status":4,"assign_status":1,"assign_user":"alice@x.io","billing_mode":"postPaid","state":"running","created_at":"2026-02-01T10:30:00Z","expires_at":null}],` +
			`"page_no":3,"page_size":10,"total_count":22,"error_code":"0","error_msg":"OK"},"error_code":"0","error_msg":"OK"}`
		if got := string(resp.Body); resp.StatusCode != 200 || got != want {
			t.Fatalf("StatusCode=%d body=\n%s\nwant\n%s", resp.StatusCode, got, want)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.FindInstancesFn = func(ctx context.Context, f phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
				if f.IncludeReleased || f.ID != nil || f.CreatedFrom != nil || f.Offset != 0 || f.Limit != 1000 {
					t.Errorf("filter=%+v", f)
				}
				return nil, 0, nil
			}
		})
		resp := s.Get(t, path+"?page_no=1&page_size=1000", adminToken)
		var e struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(resp.Body, &e); err != nil || e.Data.Result == nil || len(e.Data.Result) != 0 {
			t.Fatalf("body=%s, want an empty result list", resp.Body)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		s := MustOpenServer(t) // FindInstancesFn is nil
		for _, tc := range []struct{ query, msg string }{
			{"page_size=10", "page_no must be an integer of at least 1"},
			{"page_no=0&page_size=10", "page_no must be an integer of at least 1"},
			{"page_no=x&page_size=10", "page_no must be an integer of at least 1"},
			{"page_no=1.5&page_size=10", "page_no must be an integer of at least 1"},
			{"page_no=1", "page_size must be an integer from 1 to 1000"},
			{"page_no=1&page_size=0", "page_size must be an integer from 1 to 1000"},
			{"page_no=1&page_size=1001", "page_size must be an integer from 1 to 1000"},
			{"page_no=1&page_size=10&instance_id=a%20b", "instance_id must be 1-32 characters of [A-Za-z0-9_-]"},
			{"page_no=1&page_size=10&instance_name=" + strings.Repeat("n", 65), "instance_name must be at most 64 characters"},
			{"page_no=1&page_size=10&query_start_time=2026-01-01", "query_start_time must be a UTC time formatted as yyyy-MM-dd HH:mm:ss"},
			{"page_no=1&page_size=10&query_end_time=2026-01-01T00:00:00Z", "query_end_time must be a UTC time formatted as yyyy-MM-dd HH:mm:ss"},
			{"page_no=1&page_size=10&query_start_time=2026-01-02+00:00:00&query_end_time=2026-01-01+23:59:59", "query_end_time must not be before query_start_time"},
			{"page_no=1&page_size=10&include_released=1", "include_released must be true or false"},
		} {
			assertError(t, s.Get(t, path+"?"+tc.query, adminToken), 400, phonefleet.EInvalid, tc.msg)
		}
	})
}
