package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRefundsAudit_Params checks the lists' authentication and parameters:
// no token is 401, an unknown or repeated parameter and a page out of range
// are KOOPHONE.API.1000 naming it, and pages past the end are empty.
func TestRefundsAudit_Params(t *testing.T) {
	e := MustOpenE2E(t)
	_, token := e.MustTenant(t, "acme")
	ids := e.MustBuy(t, token, 3, 1)
	if status, _, env := e.Call(t, "POST", "/v1/instances/delete", token, fmt.Sprintf(`{"instanceIdList":[%q,%q,%q]}`, ids[0], ids[1], ids[2]), "", nil); status != 200 {
		t.Fatalf("unsubscribe: %d %+v", status, env)
	}
	for _, path := range []string{"/v1/phonefleet/refunds", "/v1/phonefleet/audit"} {
		if status, _, env := e.Call(t, "GET", path+"?page_no=1&page_size=10", "", "", "", nil); status != http.StatusUnauthorized || env.Code != "APIGW.0301" {
			t.Errorf("%s without a token: %d %+v", path, status, env)
		}
		for query, msg := range map[string]string{
			"page_no=1&page_size=10&tenant=other": `query parameter "tenant" is not known`,
			"page_no=1&page_size=10&page_no=2":    "page_no must be given at most once",
			"page_no=0&page_size=10":              "page_no must be an integer of at least 1",
			"page_no=1&page_size=1001":            "page_size must be an integer from 1 to 1000",
			"page_no=1&page_size=":                "page_size must be an integer from 1 to 1000",
			"page_no=&page_size=10":               "page_no must be an integer of at least 1",
		} {
			status, _, env := e.Call(t, "GET", path+"?"+query, token, "", "", nil)
			if status != http.StatusBadRequest || env.Code != "KOOPHONE.API.1000" || env.Message != msg {
				t.Errorf("%s?%s: %d %+v, want 400 %q", path, query, status, env, msg)
			}
		}
	}

	var refunds struct {
		Result []struct {
			InstanceID string `json:"instance_id"`
		} `json:"result"`
		TotalCount int `json:"total_count"`
	}
	e.Call(t, "GET", "/v1/phonefleet/refunds?page_no=2&page_size=2", token, "", "", &refunds)
	if refunds.TotalCount != 3 || len(refunds.Result) != 1 {
		t.Fatalf("refunds page 2 of size 2: %+v, want 1 of 3", refunds)
	}
	e.Call(t, "GET", "/v1/phonefleet/refunds?page_no=3&page_size=2", token, "", "", &refunds)
	if refunds.TotalCount != 3 || len(refunds.Result) != 0 {
		t.Fatalf("refunds page 3 of size 2: %+v, want none of 3", refunds)
	}
	// Without page_no the first page is meant, without page_size 10.
	var first struct {
		Result   []json.RawMessage `json:"result"`
		PageNo   int               `json:"page_no"`
		PageSize int               `json:"page_size"`
	}
	for _, path := range []string{"/v1/phonefleet/refunds?page_size=2", "/v1/phonefleet/audit?page_size=2", "/v1/phonefleet/refunds"} {
		if status, _, env := e.Call(t, "GET", path, token, "", "", &first); status != 200 || first.PageNo != 1 || len(first.Result) != min(first.PageSize, 2+strings.Count(path, "refunds")) {
			t.Fatalf("%s: %d %+v %+v, want page 1", path, status, env, first)
		}
	}
	if first.PageSize != 10 || len(first.Result) != 3 {
		t.Fatalf("refunds without paging: %+v, want page_size 10 with the 3 refunds", first)
	}
	var audit struct {
		Result []struct {
			Action string `json:"action"`
		} `json:"result"`
		TotalCount int `json:"total_count"`
	}
	e.Call(t, "GET", "/v1/phonefleet/audit?page_no=1&page_size=1000", token, "", "", &audit)
	if audit.TotalCount != 2 || len(audit.Result) != 2 || audit.Result[0].Action != "instanceDelete" || audit.Result[1].Action != "instanceCreate" {
		t.Fatalf("audit: %+v, want the unsubscribe, then the purchase", audit)
	}
}
