package e2e

import (
	"bytes"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConformance drives one server through the API of docs/api.md (codes,
// unsubscribe, buy, queries) as a KooPhone client and an operator would. Releases go to a webhook that always fails,
// so unsubscribed instances stay "going offline" (3) deterministically.
func TestConformance(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustCLI(t, db, "migrate")
	acme := MustTenant(t, db, "acme")
	globex := MustTenant(t, db, "globex")
	n := MustServe(t, db, heldReleaseFlags(t)...)
	api := n.URL + "/v1/instances"

	monthly := MustBuy(t, n.URL, acme.Admin, buyBody(4, 1, 2, 1))
	ppu := MustBuy(t, n.URL, acme.Admin, buyBody(1, 0, 0, 0))[0]
	foreign := MustBuy(t, n.URL, globex.Admin, buyBody(1, 1, 2, 1))[0]

	t.Run("Envelope/RequestID", func(t *testing.T) {
		r := call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil, "X-Request-Id", "client-req.1_A")
		wantOK(t, r)
		if got := r.Header.Get("X-Request-Id"); got != "client-req.1_A" {
			t.Fatalf("X-Request-Id=%q, want the caller's", got)
		}
		for _, bad := range []string{"has space", strings.Repeat("a", 65), "semi;colon"} {
			r := call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil, "X-Request-Id", bad)
			if got := r.Header.Get("X-Request-Id"); got == bad || !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(got) {
				t.Fatalf("X-Request-Id %q replaced by %q, want a new valid ID", bad, got)
			}
		}
		a := call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil).Header.Get("X-Request-Id")
		b := call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil).Header.Get("X-Request-Id")
		if a == b {
			t.Fatalf("two requests got the same generated ID %q", a)
		}
	})

	t.Run("Health", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := call(t, "GET", n.URL+p, "", "", nil); r.Status != 200 {
				t.Fatalf("%s: %d", p, r.Status)
			}
		}
	})

	t.Run("NoSuchAPI", func(t *testing.T) {
		wantErr(t, call(t, "GET", api+"/nope", acme.Admin, "", nil), 404, "APIGW.0101")
		wantErr(t, call(t, "GET", api+"/delete", acme.Admin, "", nil), 405, "APIGW.0101")
	})

	t.Run("Authentication", func(t *testing.T) {
		body := []byte(`{"instanceIdList":["x"]}`)
		r := call(t, "POST", api+"/delete", "", "application/json", body)
		wantErr(t, r, 401, "APIGW.0301")
		if r.Msg() != "Incorrect IAM authentication information: x-auth-token not found" {
			t.Fatalf("msg=%q", r.Msg())
		}
		if id, _ := r.Body["request_id"].(string); id == "" || id != r.Header.Get("X-Request-Id") {
			t.Fatalf("401 body request_id=%q, header %q", id, r.Header.Get("X-Request-Id"))
		}
		r = call(t, "POST", api+"/delete", "garbage", "application/json", body)
		wantErr(t, r, 401, "APIGW.0301")
		if r.Msg() != "Incorrect IAM authentication information: token is invalid" {
			t.Fatalf("msg=%q", r.Msg())
		}
		// Header names are case-insensitive.
		r = call(t, "POST", api+"/delete", "", "application/json", []byte(`{"instanceIdList":["`+monthly[3]+`"]}`), "x-auth-token", acme.Viewer)
		wantErr(t, r, 400, "KOOPHONE.API.1001")

		revoked := MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", "acme"))
		MustCLI(t, db, "token", "revoke", strings.SplitN(revoked, ".", 2)[0])
		r = call(t, "GET", api+"/sku?type=0", revoked, "", nil)
		wantErr(t, r, 401, "APIGW.0301")
		if !strings.HasSuffix(r.Msg(), "token is invalid") {
			t.Fatalf("revoked msg=%q", r.Msg())
		}

		expired := MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", "acme", "--ttl", "1ns"))
		r = call(t, "GET", api+"/sku?type=0", expired, "", nil)
		wantErr(t, r, 401, "APIGW.0301")
		if !regexp.MustCompile(`^Incorrect IAM authentication information: token expires, expires_at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(r.Msg()) {
			t.Fatalf("expired msg=%q", r.Msg())
		}
	})

	t.Run("Actions", func(t *testing.T) {
		wantErr(t, postJSON(t, api+"/delete", acme.Viewer, map[string]any{"instanceIdList": []string{monthly[3]}}), 400, "KOOPHONE.API.1001")
		wantErr(t, postJSON(t, api+"/create", acme.Viewer, buyBody(1, 1, 2, 1)), 400, "KOOPHONE.API.1001")
		wantOK(t, call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil))
		wantOK(t, call(t, "GET", api+"/batch-query?page_no=1&page_size=10", acme.Viewer, "", nil))
		wantOK(t, postJSON(t, api+"/batch-query-status", acme.Viewer, map[string]any{"instance_ids": []string{monthly[0]}}))
	})

	t.Run("CheckOrder", func(t *testing.T) {
		// 401 before everything, 1001 before parameters, 1000 before ownership, 1012 before 5001.
		wantErr(t, call(t, "POST", api+"/delete", "", "text/plain", []byte("{")), 401, "APIGW.0301")
		wantErr(t, call(t, "POST", api+"/delete", acme.Viewer, "text/plain", []byte("{")), 400, "KOOPHONE.API.1001")
		wantErr(t, postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{foreign, foreign}}), 400, "KOOPHONE.API.1000")
		wantErr(t, postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{ppu, foreign}}), 400, "KOOPHONE.API.1012")
		b := buyBody(1, 1, 2, 12)
		b["instanceSkuId"] = "no-such-sku"
		wantErr(t, postJSON(t, api+"/create", acme.Admin, b), 400, "KOOPHONE.API.3006")
	})

	t.Run("DeleteBadInput", func(t *testing.T) {
		long := strings.Repeat("a", 33)
		many := make([]string, 101)
		for i := range many {
			many[i] = "id" + strings.Repeat("x", i%20) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		cases := []struct {
			name, ct, body string
			status         int
			field          string
		}{
			{"NoContentType", "", `{"instanceIdList":["a"]}`, 400, "Content-Type"},
			{"WrongContentType", "text/plain", `{"instanceIdList":["a"]}`, 400, "Content-Type"},
			{"MalformedJSON", "application/json", `{"instanceIdList":["a"`, 400, ""},
			{"NotObject", "application/json", `["a"]`, 400, ""},
			{"Null", "application/json", `null`, 400, ""},
			{"Missing", "application/json", `{}`, 400, "instanceIdList"},
			{"NullList", "application/json", `{"instanceIdList":null}`, 400, "instanceIdList"},
			{"Empty", "application/json", `{"instanceIdList":[]}`, 400, "instanceIdList"},
			{"TooMany", "application/json", `{"instanceIdList":["` + strings.Join(many, `","`) + `"]}`, 400, "instanceIdList"},
			{"TooLong", "application/json", `{"instanceIdList":["` + long + `"]}`, 400, "instanceIdList"},
			{"NotString", "application/json", `{"instanceIdList":[42]}`, 400, "instanceIdList"},
			{"NotArray", "application/json", `{"instanceIdList":"abc"}`, 400, "instanceIdList"},
			{"Duplicates", "application/json", `{"instanceIdList":["abc","abc"]}`, 400, "instanceIdList"},
			{"Trailing", "application/json", `{"instanceIdList":["abc"]} {}`, 400, ""},
			{"DuplicateMember", "application/json", `{"instanceIdList":["zz"],"instanceIdList":["abc"]}`, 400, "instanceIdList"},
			{"TooLarge", "application/json", `{"instanceIdList":["abc"],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, "POST", api+"/delete", acme.Admin, tc.ct, []byte(tc.body))
				wantErr(t, r, tc.status, "KOOPHONE.API.1000")
				if tc.field != "" && !strings.Contains(r.Msg(), tc.field) {
					t.Fatalf("msg %q does not name %s", r.Msg(), tc.field)
				}
			})
		}
		wantOK(t, call(t, "POST", api+"/delete?dry_run=true", acme.Admin, "application/json; charset=utf-8", []byte(`{"instanceIdList":["`+monthly[0]+`"],"unknown":1}`)))
		if s := statuses(t, n.URL, acme.Admin, monthly); s[monthly[0]] != 2 {
			t.Fatalf("bad input changed state: %v", s)
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		a := postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{foreign}})
		b := postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{"zzzzzzzz"}})
		wantErr(t, a, 400, "KOOPHONE.API.1012")
		wantErr(t, b, 400, "KOOPHONE.API.1012")
		if got, want := strings.ReplaceAll(a.Msg(), foreign, "ID"), strings.ReplaceAll(b.Msg(), "zzzzzzzz", "ID"); got != want {
			t.Fatalf("foreign and missing answers differ: %q vs %q", a.Msg(), b.Msg())
		}
		if s := statuses(t, n.URL, acme.Admin, []string{foreign, "zzzzzzzz"}); s[foreign] != 0 || s["zzzzzzzz"] != 0 {
			t.Fatalf("foreign status leaked: %v", s)
		}
		r := call(t, "GET", api+"/batch-query?page_no=1&page_size=10&instance_id="+foreign, acme.Admin, "", nil)
		wantOK(t, r)
		if tc := r.Data()["total_count"].(float64); tc != 0 || len(r.Data()["result"].([]any)) != 0 {
			t.Fatalf("batch-query shows a foreign instance: %s", r.Raw)
		}
		// The same query by its owner finds it: the zero above is not a
		// query that finds nothing for anyone.
		r = call(t, "GET", api+"/batch-query?page_no=1&page_size=10&instance_id="+foreign, globex.Admin, "", nil)
		wantOK(t, r)
		if tc := r.Data()["total_count"].(float64); tc != 1 {
			t.Fatalf("batch-query by the owner: %s", r.Raw)
		}
		if s := statuses(t, n.URL, globex.Admin, []string{foreign}); s[foreign] != 2 {
			t.Fatalf("foreign instance changed: %v", s)
		}
	})

	t.Run("PayPerUse", func(t *testing.T) {
		r := postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{monthly[1], ppu}})
		wantErr(t, r, 400, "KOOPHONE.API.5001")
		if !strings.Contains(r.Msg(), ppu) || strings.Contains(r.Msg(), monthly[1]) {
			t.Fatalf("5001 msg %q must list exactly the pay-per-use ID", r.Msg())
		}
		if s := statuses(t, n.URL, acme.Admin, []string{monthly[1], ppu}); s[monthly[1]] != 2 || s[ppu] != 2 {
			t.Fatalf("failed batch changed state: %v", s)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		r := postJSON(t, api+"/delete?dry_run=true", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0], monthly[1]}})
		wantOK(t, r)
		d := r.Data()
		if d["dryRun"] != true || d["currency"] != "USD" {
			t.Fatalf("dry run data %s", r.Raw)
		}
		items := d["instances"].([]any)
		if len(items) != 2 {
			t.Fatalf("dry run of 2 IDs lists %d instances: %s", len(items), r.Raw)
		}
		var sum float64
		for i, it := range items {
			m := it.(map[string]any)
			if m["instanceId"] != monthly[i] || m["noop"] != false || m["paidAmount"].(float64) != 1990 || m["refundAmount"].(float64) != 1990 ||
				m["consumedAmount"].(float64) != 0 || m["handlingFee"].(float64) != 0 {
				t.Fatalf("dry run item %d: %v (want a full refund within five days)", i, m)
			}
			sum += m["refundAmount"].(float64)
		}
		if d["totalRefund"].(float64) != sum {
			t.Fatalf("totalRefund %v, want %v", d["totalRefund"], sum)
		}
		if s := statuses(t, n.URL, acme.Admin, monthly[:2]); s[monthly[0]] != 2 {
			t.Fatalf("dry run changed state")
		}
		wantErr(t, postJSON(t, api+"/delete?dry_run=maybe", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0]}}), 400, "KOOPHONE.API.1000")
		// Which would count? A repeated parameter is refused, never guessed.
		r = postJSON(t, api+"/delete?dry_run=true&dry_run=false", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0]}})
		wantErr(t, r, 400, "KOOPHONE.API.1000")
		if !strings.Contains(r.Msg(), "dry_run") {
			t.Fatalf("msg %q does not name dry_run", r.Msg())
		}
		if s := statuses(t, n.URL, acme.Admin, monthly[:1]); s[monthly[0]] != 2 {
			t.Fatalf("a refused dry run changed state")
		}
	})

	t.Run("Unsubscribe", func(t *testing.T) {
		r := postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0], monthly[1]}})
		if r.Status != 200 || !bytes.Equal(bytes.TrimSpace(r.Raw), []byte(`{"data":null,"error_code":"0","error_msg":"OK"}`)) {
			t.Fatalf("success body %d %q", r.Status, r.Raw)
		}
		if s := statuses(t, n.URL, acme.Admin, monthly); s[monthly[0]] != 3 || s[monthly[1]] != 3 || s[monthly[2]] != 2 {
			t.Fatalf("statuses after unsubscribe: %v", s)
		}
		// Re-unsubscribing is a no-op that succeeds, alone or with a new ID.
		wantOK(t, postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0]}}))
		wantOK(t, postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": []string{monthly[1], monthly[2]}}))
		dry := postJSON(t, api+"/delete?dry_run=true", acme.Admin, map[string]any{"instanceIdList": []string{monthly[0]}})
		wantOK(t, dry)
		if items := dry.Data()["instances"].([]any); len(items) != 1 {
			t.Fatalf("dry run of 1 ID lists %d instances: %s", len(items), dry.Raw)
		}
		if it := dry.Data()["instances"].([]any)[0].(map[string]any); it["noop"] != true || dry.Data()["totalRefund"].(float64) != 0 {
			t.Fatalf("dry run of an unsubscribed instance: %s", dry.Raw)
		}

		refunds := jsonLines(t, MustCLI(t, db, "refunds", "--tenant", "acme"))
		count := map[string]int{}
		for _, rf := range refunds {
			count[rf["instance_id"].(string)]++
			for _, k := range []string{"instance_id", "order_id", "paid", "consumed", "fee", "amount", "currency", "request_id", "created_at"} {
				if _, ok := rf[k]; !ok {
					t.Fatalf("refund line lacks %s: %v", k, rf)
				}
			}
		}
		if len(refunds) != 3 || count[monthly[0]] != 1 || count[monthly[1]] != 1 || count[monthly[2]] != 1 {
			t.Fatalf("refunds %v, want one each for 3 instances", count)
		}
		if out := MustCLI(t, db, "refunds", "--tenant", "globex"); out != "" {
			t.Fatalf("globex has refunds: %q", out)
		}

		jobs := jsonLines(t, MustCLI(t, db, "jobs", "--tenant", "acme"))
		if len(jobs) != 3 {
			t.Fatalf("jobs %v, want 3", jobs)
		}
		for _, j := range jobs {
			for _, k := range []string{"instance_id", "tenant", "state", "attempts", "next_attempt_at", "last_error"} {
				if _, ok := j[k]; !ok {
					t.Fatalf("job line lacks %s: %v", k, j)
				}
			}
		}
	})

	t.Run("Create", func(t *testing.T) {
		r := postJSON(t, api+"/create", acme.Admin, buyBody(3, 1, 3, 2))
		wantOK(t, r)
		d := r.Data()
		if id, _ := d["orderId"].(string); id == "" {
			t.Fatalf("no orderId: %s", r.Raw)
		}
		infos := d["instanceInfos"].([]any)
		if len(infos) != 3 {
			t.Fatalf("purchase of 3 returned %d instanceInfos: %s", len(infos), r.Raw)
		}
		for i, it := range infos {
			m := it.(map[string]any)
			if want := []string{"phone-0001", "phone-0002", "phone-0003"}[i]; m["instanceName"] != want || !regexp.MustCompile(`^[a-z0-9]{18}$`).MatchString(m["instanceId"].(string)) {
				t.Fatalf("instanceInfos[%d]=%v", i, m)
			}
		}
		bad := func(mut func(map[string]any), code string) {
			t.Helper()
			b := buyBody(1, 1, 2, 1)
			mut(b)
			wantErr(t, postJSON(t, api+"/create", acme.Admin, b), 400, code)
		}
		bad(func(b map[string]any) { delete(b, "os") }, "KOOPHONE.API.3003")
		bad(func(b map[string]any) { b["os"] = "AOSP8" }, "KOOPHONE.API.1000")
		bad(func(b map[string]any) { b["instanceSkuId"] = "nope" }, "KOOPHONE.API.3002")
		bad(func(b map[string]any) { b["bandSkuId"] = "nope" }, "KOOPHONE.API.3002")
		bad(func(b map[string]any) { b["regionId"] = "eu-west-0" }, "KOOPHONE.API.3002")
		bad(func(b map[string]any) { b["chargeParam"].(map[string]any)["periodNum"] = 10 }, "KOOPHONE.API.3006")
		bad(func(b map[string]any) { b["chargeParam"].(map[string]any)["periodNum"] = 0 }, "KOOPHONE.API.3006")
		bad(func(b map[string]any) {
			b["chargeParam"].(map[string]any)["periodType"] = 3
			b["chargeParam"].(map[string]any)["periodNum"] = 4
		}, "KOOPHONE.API.3007")
		bad(func(b map[string]any) { b["count"] = 1501 }, "KOOPHONE.API.1000")
		bad(func(b map[string]any) { b["count"] = "1" }, "KOOPHONE.API.1000")
		bad(func(b map[string]any) { b["instanceNamePrefix"] = strings.Repeat("p", 15) }, "KOOPHONE.API.1000")
		bad(func(b map[string]any) { b["bandSize"] = 3 }, "KOOPHONE.API.1000")
		wantErr(t, call(t, "POST", api+"/create", acme.Admin, "application/json", []byte(`[]`)), 400, "KOOPHONE.API.1000")
	})

	t.Run("SKU", func(t *testing.T) {
		wantErr(t, call(t, "GET", api+"/sku", acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
		wantErr(t, call(t, "GET", api+"/sku?type=1", acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
		wantErr(t, call(t, "GET", api+"/sku?type=0&type=1", acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
		r := call(t, "GET", api+"/sku?type=0", acme.Viewer, "", nil)
		wantOK(t, r)
		d := r.Data()
		if d["bandInfo"].(map[string]any)["cbcSkuId"] != "kp.band.bgp.standard" {
			t.Fatalf("bandInfo %v", d["bandInfo"])
		}
		var regions []string
		for _, rs := range d["skuSpecResponseList"].([]any) {
			m := rs.(map[string]any)
			regions = append(regions, m["regionId"].(string))
			skus := m["skuResponses"].([]any)
			if len(skus) == 0 {
				t.Fatalf("region %v lists no SKU", m["regionId"])
			}
			for _, s := range skus {
				sm := s.(map[string]any)
				for _, k := range []string{"type", "cbcSkuId", "name", "calcSpec", "storageSpec", "specDesc", "bandSize", "chargeMode", "maxResolution", "monthPrice", "yearPrice", "hourPrice", "currency"} {
					if _, ok := sm[k]; !ok {
						t.Fatalf("sku response lacks %s: %v", k, sm)
					}
				}
			}
		}
		if len(regions) < 2 {
			t.Fatalf("regions %v, want at least two", regions)
		}
	})

	t.Run("BatchQuery", func(t *testing.T) {
		for _, q := range []string{"", "page_no=0&page_size=10", "page_no=1&page_size=0", "page_no=1&page_size=1001", "page_no=x&page_size=1",
			"page_no=1&page_size=10&query_start_time=2024-01-01", "page_no=1&page_no=2&page_size=10", "page_no=1&page_size=10&query_start_time=2024-01-02%2000:00:00&query_end_time=2024-01-01%2000:00:00"} {
			wantErr(t, call(t, "GET", api+"/batch-query?"+q, acme.Viewer, "", nil), 400, "KOOPHONE.API.1000")
		}
		r := call(t, "GET", api+"/batch-query?page_no=1&page_size=2", acme.Viewer, "", nil)
		wantOK(t, r)
		d := r.Data()
		if d["error_code"] != "0" || d["page_no"].(float64) != 1 || d["page_size"].(float64) != 2 {
			t.Fatalf("batch-query data %s", r.Raw)
		}
		// 4 monthly + 1 ppu + 3 yearly bought; 3 of them deleting, none released: all 8 listed.
		if d["total_count"].(float64) != 8 || len(d["result"].([]any)) != 2 {
			t.Fatalf("total_count %v, page %d", d["total_count"], len(d["result"].([]any)))
		}
		first := d["result"].([]any)[0].(map[string]any)
		for _, k := range []string{"instance_id", "instance_name", "region", "instance_sku", "frozen_status", "running_status", "assign_status", "billing_mode", "state", "created_at", "expires_at"} {
			if _, ok := first[k]; !ok {
				t.Fatalf("item lacks %s: %v", k, first)
			}
		}
		var all []string
		for page := 1; page <= 4; page++ {
			r := call(t, "GET", api+"/batch-query?page_size=2&page_no="+string(rune('0'+page)), acme.Viewer, "", nil)
			wantOK(t, r)
			items := r.Data()["result"].([]any)
			if len(items) != 2 {
				t.Fatalf("page %d of 8 instances by 2 has %d items", page, len(items))
			}
			for _, it := range items {
				m := it.(map[string]any)
				all = append(all, m["instance_id"].(string))
				if m["instance_id"] == monthly[0] && (m["running_status"].(float64) != 3 || m["state"] != "deleting") {
					t.Fatalf("deleting instance shows %v", m)
				}
				if m["instance_id"] == ppu && m["billing_mode"] != "postPaid" {
					t.Fatalf("ppu billing_mode %v", m["billing_mode"])
				}
			}
		}
		if len(all) != 8 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 8 {
			t.Fatalf("paging returned %v", all)
		}
		r = call(t, "GET", api+"/batch-query?page_no=1&page_size=10&instance_id="+monthly[2], acme.Viewer, "", nil)
		wantOK(t, r)
		if r.Data()["total_count"].(float64) != 1 || len(r.Data()["result"].([]any)) != 1 {
			t.Fatalf("instance_id filter: %s", r.Raw)
		}
	})

	t.Run("BatchQueryStatus", func(t *testing.T) {
		wantErr(t, postJSON(t, api+"/batch-query-status", acme.Viewer, map[string]any{"instance_ids": []string{}}), 400, "KOOPHONE.API.1000")
		wantErr(t, postJSON(t, api+"/batch-query-status", acme.Viewer, map[string]any{}), 400, "KOOPHONE.API.1000")
		r := postJSON(t, api+"/batch-query-status", acme.Viewer, map[string]any{"instance_ids": []string{monthly[3], monthly[0], "missing1"}})
		wantOK(t, r)
		res := r.Data()["status_results"].([]any)
		want := []float64{2, 3, 0}
		if len(res) != len(want) {
			t.Fatalf("status_results %s, want %d results", r.Raw, len(want))
		}
		for i, it := range res {
			if got := it.(map[string]any)["status"].(float64); got != want[i] {
				t.Fatalf("status_results %s, want %v", r.Raw, want)
			}
		}
	})

	t.Run("Audit", func(t *testing.T) {
		events := jsonLines(t, MustCLI(t, db, "audit", "--tenant", "acme", "--limit", "1000"))
		codes := map[string]bool{}
		for _, e := range events {
			for _, k := range []string{"at", "tenant", "action", "request_id", "instance_ids", "error_code", "detail"} {
				if _, ok := e[k]; !ok {
					t.Fatalf("audit line lacks %s: %v", k, e)
				}
			}
			codes[e["error_code"].(string)] = true
			if e["tenant"] != "acme" {
				t.Fatalf("audit --tenant acme shows %v", e["tenant"])
			}
		}
		for _, c := range []string{"0", "KOOPHONE.API.1000", "KOOPHONE.API.1012", "KOOPHONE.API.5001", "KOOPHONE.API.1001", "KOOPHONE.API.3002"} {
			if !codes[c] {
				t.Fatalf("audit has no event with code %s: %v", c, codes)
			}
		}
		if got := jsonLines(t, MustCLI(t, db, "audit", "--limit", "2")); len(got) != 2 {
			t.Fatalf("audit --limit 2 printed %d lines", len(got))
		}
	})
}

// TestRateLimit checks APIGW.0308 with Retry-After once a tenant's bucket is
// empty, and that another tenant is unaffected.
func TestRateLimit(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	a := MustTenant(t, db, "a")
	b := MustTenant(t, db, "b")
	n := MustServe(t, db, "--rate-limit", "0.001", "--rate-burst", "3")
	url := n.URL + "/v1/instances/sku?type=0"
	for i := 0; i < 3; i++ {
		wantOK(t, call(t, "GET", url, a.Viewer, "", nil))
	}
	r := call(t, "GET", url, a.Viewer, "", nil)
	wantErr(t, r, 429, "APIGW.0308")
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	wantOK(t, call(t, "GET", url, b.Viewer, "", nil))
}
