package http_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

// auditEntry is one entry of GET /v1/phonefleet/audit as a client reads it.
type auditEntry struct {
	ID          int64    `json:"id"`
	At          string   `json:"at"`
	Actor       string   `json:"actor"`
	User        string   `json:"user"`
	ClientAddr  string   `json:"client_addr"`
	DryRun      bool     `json:"dry_run"`
	Action      string   `json:"action"`
	RequestID   string   `json:"request_id"`
	InstanceIDs []string `json:"instance_ids"`
	ErrorCode   string   `json:"error_code"`
	Detail      string   `json:"detail"`
}

type auditList struct {
	Result       []auditEntry `json:"result"`
	PageNo       int          `json:"page_no"`
	PageSize     int          `json:"page_size"`
	TotalCount   int          `json:"total_count"`
	NextBeforeID int64        `json:"next_before_id"`
}

func (e *E2E) mustAudit(t *testing.T, token, query string) auditList {
	t.Helper()
	var l auditList
	if status, _, env := e.Call(t, "GET", "/v1/phonefleet/audit?"+query, token, "", "", &l); status != 200 {
		t.Fatalf("audit?%s: %d %+v", query, status, env)
	}
	return l
}

// TestAudit_ActorAddressDryRun: behind a trusted proxy, the audit list
// shows who acted (the token's name), the forwarded client address, and
// marks a refund preview, accepted or refused, as a dry run; a real
// unsubscribe is not one, nor a call refused for a malformed dry_run.
func TestAudit_ActorAddressDryRun(t *testing.T) {
	e := mustOpenE2E(t, false, func(s *pfhttp.Server) {
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	_, token := e.MustTenant(t, "acme")
	ids := e.MustBuy(t, token, 2, 1)
	call := func(path, body, forwarded string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL()+path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwarded)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	call("/v1/instances/delete?dry_run=yes", fmt.Sprintf(`{"instanceIdList":[%q]}`, ids[0]), "203.0.113.8")
	call("/v1/instances/delete?dry_run=true", fmt.Sprintf(`{"instanceIdList":[%q]}`, ids[0]), "198.51.100.1, 203.0.113.9")
	call("/v1/instances/delete?dry_run=true", `{"instanceIdList":["nosuchinstance"]}`, "203.0.113.10")
	call("/v1/instances/delete", fmt.Sprintf(`{"instanceIdList":[%q]}`, ids[0]), "2001:db8::5")

	l := e.mustAudit(t, token, "")
	if l.PageNo != 1 || l.PageSize != 10 || l.TotalCount != 5 || len(l.Result) != 5 {
		t.Fatalf("audit without page_no: %+v, want page 1 of size 10 with the 5 events", l)
	}
	type row struct {
		actor, addr string
		dryRun      bool
		code        string
	}
	want := []row{{"e2e", "2001:db8::5", false, "0"}, {"e2e", "203.0.113.10", true, "KOOPHONE.API.1012"}, {"e2e", "203.0.113.9", true, "0"},
		{"e2e", "203.0.113.8", false, "KOOPHONE.API.1000"}, {"e2e", "127.0.0.1", false, "0"}}
	for i, it := range l.Result {
		if got := (row{it.Actor, it.ClientAddr, it.DryRun, it.ErrorCode}); got != want[i] {
			t.Errorf("event %d (%s %s): %+v, want %+v", i, it.Action, it.Detail, got, want[i])
		}
	}
}

// TestAudit_Filters: the list filters by action, instance, actor and time,
// pages by key with before_id, and refuses a bad value with
// KOOPHONE.API.1000 naming the parameter.
func TestAudit_Filters(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	start := e.Now()
	for i := range 6 {
		ev := &phonefleet.AuditEvent{TenantID: tenantID, Action: phonefleet.ActionInstanceDelete, Actor: "alice",
			RequestID: fmt.Sprintf("r%d", i), InstanceIDs: []string{fmt.Sprintf("in%d", i%2)}, ErrorCode: "0"}
		if i%3 == 2 {
			ev.Action, ev.Actor = phonefleet.ActionInstanceCreate, "ci"
		}
		if err := e.DB.CreateAuditEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		e.Advance(time.Minute)
	}
	reqs := func(l auditList) string {
		var out []string
		for _, it := range l.Result {
			out = append(out, it.RequestID)
		}
		return strings.Join(out, ",")
	}
	ts := func(min int) string {
		return url.QueryEscape(start.Add(time.Duration(min) * time.Minute).Format(time.RFC3339))
	}
	for query, want := range map[string]string{
		"action=instanceCreate":                           "r5,r2",
		"actor=alice&instance_id=in1":                     "r3,r1",
		"since=" + ts(2) + "&until=" + ts(4):              "r3,r2",
		"actor=ci&since=" + ts(3):                         "r5",
		"page_size=2":                                     "r5,r4",
		"page_size=2&page_no=3":                           "r1,r0",
		"actor=nobody":                                    "",
		"instance_id=in0&action=instanceDelete&page_no=1": "r4,r0",
	} {
		if got := reqs(e.mustAudit(t, token, query)); got != want {
			t.Errorf("audit?%s: %s, want %s", query, got, want)
		}
	}

	// Keyset paging: next_before_id leads through every event once.
	var got []string
	l := e.mustAudit(t, token, "page_size=4")
	for l.NextBeforeID != 0 {
		got = append(got, reqs(l))
		if l.TotalCount != 6 {
			t.Fatalf("total_count=%d, want 6 on every page", l.TotalCount)
		}
		l = e.mustAudit(t, token, fmt.Sprintf("page_size=4&before_id=%d", l.NextBeforeID))
	}
	got = append(got, reqs(l))
	if s := strings.Join(got, "|"); s != "r5,r4,r3,r2|r1,r0" {
		t.Fatalf("keyset pages %s, want r5,r4,r3,r2|r1,r0", s)
	}

	for query, msg := range map[string]string{
		"action=":                            "action must be 1-128 bytes of UTF-8",
		"actor=" + strings.Repeat("a", 129):  "actor must be 1-128 bytes of UTF-8",
		"instance_id=%ff":                    "instance_id must be valid UTF-8",
		"since=yesterday":                    "since must be an RFC 3339 time such as 2026-12-01T00:00:00Z",
		"until=2026-12-01":                   "until must be an RFC 3339 time such as 2026-12-01T00:00:00Z",
		"since=" + ts(3) + "&until=" + ts(3): "since must be before until",
		"before_id=0":                        "before_id must be a positive integer (the next_before_id of the previous page)",
		"format=xml":                         "format must be json, jsonl or csv",
		"page_no=x":                          "page_no must be an integer of at least 1",
		"page_size=0":                        "page_size must be an integer from 1 to 1000",
		"actor=a&actor=b":                    "actor must be given at most once",
	} {
		status, _, env := e.Call(t, "GET", "/v1/phonefleet/audit?"+query, token, "", "", nil)
		if status != http.StatusBadRequest || env.Code != "KOOPHONE.API.1000" || env.Message != msg {
			t.Errorf("audit?%s: %d %+v, want 400 %q", query, status, env, msg)
		}
	}
}

// TestAudit_Export: format=jsonl and format=csv export every matching
// event, newest first, past the export's batch size; CSV has a header row,
// quotes commas, quotes and newlines, and defuses formula cells.
func TestAudit_Export(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	otherID, _ := e.MustTenant(t, "globex")
	const n = 1203
	for i := range n {
		ev := &phonefleet.AuditEvent{TenantID: tenantID, Action: phonefleet.ActionInstanceDelete, Actor: "alice",
			RequestID: fmt.Sprintf("r%d", i), InstanceIDs: []string{"a", "b"}, ErrorCode: "0", DryRun: i%2 == 0,
			Detail: fmt.Sprintf("detail %d, with \"quotes\"\nand a line", i)}
		if i == 7 {
			ev.Actor = "=HYPERLINK(\"x\")"
		}
		if err := e.DB.CreateAuditEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DB.CreateAuditEvent(context.Background(), &phonefleet.AuditEvent{TenantID: otherID, Action: "instanceDelete", RequestID: "foreign", ErrorCode: "0"}); err != nil {
		t.Fatal(err)
	}
	get := func(query string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", e.URL()+"/v1/phonefleet/audit?"+query, nil)
		req.Header.Set("X-Auth-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get("format=jsonl")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("jsonl: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	i := n
	for sc.Scan() {
		i--
		var it auditEntry
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if it.RequestID != fmt.Sprintf("r%d", i) || it.DryRun != (i%2 == 0) || len(it.InstanceIDs) != 2 {
			t.Fatalf("line %d: %+v, want r%d", n-i, it, i)
		}
	}
	if i != 0 {
		t.Fatalf("jsonl export: %d lines, want %d", n-i, n)
	}

	resp = get("format=csv&actor=alice")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(records[0], ","); h != "id,at,tenant,actor,user,client_addr,dry_run,action,request_id,instance_ids,error_code,detail" {
		t.Fatalf("csv header %s", h)
	}
	if len(records) != n {
		t.Fatalf("csv: %d rows, want a header and %d events (actor=alice leaves one out)", len(records), n-1)
	}
	row := records[1]
	if row[2] != "acme" || row[3] != "alice" || row[6] != "true" || row[8] != "r1202" || row[9] != "a b" || row[11] != "detail 1202, with \"quotes\"\nand a line" {
		t.Fatalf("csv newest row %q", row)
	}
	if _, err := strconv.ParseInt(row[0], 10, 64); err != nil {
		t.Fatalf("csv id %q", row[0])
	}
	resp = get("format=csv&request_id=x")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 400 || !strings.Contains(string(b), `query parameter \"request_id\" is not known`) {
		t.Fatalf("csv with an unknown parameter: %d %s", resp.StatusCode, b)
	}
	resp = get("format=csv&instance_id=a&since=" + url.QueryEscape(e.Now().Format(time.RFC3339Nano)))
	records, err = csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(records) != n+1 {
		t.Fatalf("csv of every event: %d rows, %v, want %d", len(records), err, n+1)
	}
	if r := records[n-7]; r[8] != "r7" || r[3] != "'=HYPERLINK(\"x\")" {
		t.Fatalf("csv row of r7 %q: want the formula actor quoted", r)
	}
}
