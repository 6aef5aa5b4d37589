package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/sqlite"
)

// E2E is a server on a real SQLite store in t.TempDir(), sharing one clock.
type E2E struct {
	*pfhttp.Server
	DB *sqlite.DB

	clock *testingutil.Clock
}

// Now returns the shared clock.
func (e *E2E) Now() time.Time { return e.clock.Now() }

// Advance moves the shared clock forward.
func (e *E2E) Advance(d time.Duration) { e.clock.Add(d) }

// MustOpenE2E opens a SQLite store and a server on it.
func MustOpenE2E(tb testing.TB) *E2E { return mustOpenE2E(tb, false) }

// mustOpenE2E opens a SQLite store and a server on it, with the test clock
// on if testClock, after configure changed the server.
func mustOpenE2E(tb testing.TB, testClock bool, configure ...func(*pfhttp.Server)) *E2E {
	tb.Helper()
	e := &E2E{clock: testingutil.NewClock(testNow)}
	e.DB = sqlite.NewDB(filepath.Join(tb.TempDir(), "phonefleet.db"))
	e.DB.Now = e.Now
	e.DB.TestClock = testClock
	e.DB.Logger = slog.New(slog.DiscardHandler)
	if err := e.DB.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.DB.Close() })

	e.Server = pfhttp.NewServer()
	e.Server.Addr = ":0"
	e.Server.Store = e.DB
	e.Server.Now = e.Now
	e.Server.Logger = slog.New(slog.DiscardHandler)
	if testClock {
		e.Server.TestClock = e.DB
	}
	for _, f := range configure {
		f(e.Server)
	}
	if err := e.Server.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Server.Close() })
	return e
}

// MustTenant creates a tenant and returns its ID and an admin token.
func (e *E2E) MustTenant(tb testing.TB, name string) (tenantID, token string) {
	tb.Helper()
	ctx := context.Background()
	tn := &phonefleet.Tenant{Name: name}
	if err := e.DB.CreateTenant(ctx, tn); err != nil {
		tb.Fatal(err)
	}
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
	now := e.Now()
	if err := e.DB.CreateToken(ctx, &phonefleet.Token{
		ID: id, TenantID: tn.ID, Name: "e2e", Actions: actions, Hash: phonefleet.HashToken(secret),
		CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
	}); err != nil {
		tb.Fatal(err)
	}
	return tn.ID, secret
}

// Call sends a request and decodes the envelope into data (if not nil).
func (e *E2E) Call(tb testing.TB, method, path, token, body, requestID string, data any) (int, []byte, Envelope) {
	tb.Helper()
	header := map[string]string{"X-Auth-Token": token, "Content-Type": "application/json"}
	if requestID != "" {
		header["X-Request-Id"] = requestID
	}
	resp := doRequest(tb, method, e.URL()+path, header, body)
	env := resp.Envelope(tb)
	if data != nil && env.Data != nil {
		if err := json.Unmarshal(env.Data, data); err != nil {
			tb.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
	return resp.StatusCode, resp.Body, env
}

// MustBuy buys count instances (monthly for periodNum > 0, else
// pay-per-use) and returns their IDs.
func (e *E2E) MustBuy(tb testing.TB, token string, count, periodNum int) []string {
	tb.Helper()
	charge := `{"chargingMode":0}`
	if periodNum > 0 {
		charge = fmt.Sprintf(`{"chargingMode":1,"periodType":2,"periodNum":%d,"isAutoPay":1}`, periodNum)
	}
	body := fmt.Sprintf(`{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":%q,"regionId":"cn-north-4",`+
		`"instanceNamePrefix":"e2e","bandSize":4,"count":%d,"chargeParam":%s}`, phonefleet.BandSKUID, count, charge)
	var data struct {
		OrderID       string `json:"orderId"`
		InstanceInfos []struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceInfos"`
	}
	status, b, _ := e.Call(tb, "POST", "/v1/instances/create", token, body, "", &data)
	if status != 200 || data.OrderID == "" || len(data.InstanceInfos) != count {
		tb.Fatalf("buy: %d %s", status, b)
	}
	ids := make([]string, count)
	for i, in := range data.InstanceInfos {
		ids[i] = in.InstanceID
	}
	return ids
}

// MustStatuses returns batch-query-status for ids.
func (e *E2E) MustStatuses(tb testing.TB, token string, ids ...string) []int {
	tb.Helper()
	body, _ := json.Marshal(map[string][]string{"instance_ids": ids})
	var data struct {
		Results []struct {
			InstanceID string `json:"instance_id"`
			Status     int    `json:"status"`
		} `json:"status_results"`
	}
	if status, b, env := e.Call(tb, "POST", "/v1/instances/batch-query-status", token, string(body), "req-status", &data); status != 200 || env.Code != "0" {
		tb.Fatalf("batch-query-status: %d %s", status, b)
	}
	if len(data.Results) != len(ids) {
		tb.Fatalf("batch-query-status answered %d results for %d IDs", len(data.Results), len(ids))
	}
	out := make([]int, len(data.Results))
	for i, r := range data.Results {
		if r.InstanceID != ids[i] {
			tb.Fatalf("status_results[%d]=%q, want %q", i, r.InstanceID, ids[i])
		}
		out[i] = r.Status
	}
	return out
}

func TestE2E_Lifecycle(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	bought := e.Now()
	ids := e.MustBuy(t, token, 2, 1)

	// The instances are listed.
	var page struct {
		Result []struct {
			InstanceID    string  `json:"instance_id"`
			RunningStatus int     `json:"running_status"`
			BillingMode   string  `json:"billing_mode"`
			State         string  `json:"state"`
			ExpiresAt     *string `json:"expires_at"`
		} `json:"result"`
		TotalCount int `json:"total_count"`
	}
	if status, b, _ := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10", token, "", "", &page); status != 200 || page.TotalCount != 2 || len(page.Result) != 2 {
		t.Fatalf("batch-query: %d %s, want the 2 instances", status, b)
	}
	wantExpiry := bought.AddDate(0, 1, 0).Format(time.RFC3339)
	for _, in := range page.Result {
		if in.RunningStatus != 2 || in.BillingMode != "prePaid" || in.State != "running" || in.ExpiresAt == nil || *in.ExpiresAt != wantExpiry {
			t.Fatalf("item=%+v, want running prePaid expiring %s", in, wantExpiry)
		}
	}

	// Ten days later a dry run shows the refund and changes nothing.
	e.Advance(10 * 24 * time.Hour)
	expires := bought.AddDate(0, 1, 0)
	want := phonefleet.ComputeRefund(&phonefleet.Instance{
		ID: ids[0], BillingMode: phonefleet.BillingModeMonthly, PeriodNum: 1, PaidAmount: 1990,
		StartsAt: bought, ExpiresAt: &expires,
	}, e.Now())
	if want.Consumed == 0 || want.Fee == 0 {
		t.Fatalf("test setup: refund %+v has no consumption or fee", want)
	}
	var dry struct {
		DryRun      bool   `json:"dryRun"`
		Currency    string `json:"currency"`
		TotalRefund int64  `json:"totalRefund"`
		Instances   []struct {
			InstanceID     string `json:"instanceId"`
			PaidAmount     int64  `json:"paidAmount"`
			ConsumedAmount int64  `json:"consumedAmount"`
			HandlingFee    int64  `json:"handlingFee"`
			RefundAmount   int64  `json:"refundAmount"`
			Noop           bool   `json:"noop"`
		} `json:"instances"`
	}
	body := fmt.Sprintf(`{"instanceIdList":[%q]}`, ids[0])
	if status, b, _ := e.Call(t, "POST", "/v1/instances/delete?dry_run=true", token, body, "", &dry); status != 200 {
		t.Fatalf("dry run: %d %s", status, b)
	}
	if !dry.DryRun || dry.Currency != "USD" || dry.TotalRefund != want.Amount || len(dry.Instances) != 1 ||
		dry.Instances[0].PaidAmount != 1990 || dry.Instances[0].ConsumedAmount != want.Consumed ||
		dry.Instances[0].HandlingFee != want.Fee || dry.Instances[0].RefundAmount != want.Amount || dry.Instances[0].Noop {
		t.Fatalf("dry run=%+v, want refund %+v", dry, want)
	}
	if got := e.MustStatuses(t, token, ids...); !reflect.DeepEqual(got, []int{2, 2}) {
		t.Fatalf("statuses after dry run=%v, want [2 2]", got)
	}

	// Unsubscribe for real.
	status, b, _ := e.Call(t, "POST", "/v1/instances/delete", token, body, "req-unsub", nil)
	if status != 200 || string(b) != `{"data":null,"error_code":"0","error_msg":"OK"}` {
		t.Fatalf("unsubscribe: %d %s", status, b)
	}
	if got := e.MustStatuses(t, token, ids...); !reflect.DeepEqual(got, []int{3, 2}) {
		t.Fatalf("statuses after unsubscribe=%v, want [3 2]", got)
	}
	refunds, err := e.DB.FindRefunds(context.Background(), phonefleet.RefundFilter{TenantID: &tenantID})
	if err != nil {
		t.Fatal(err)
	}
	if len(refunds) != 1 || refunds[0].InstanceID != ids[0] || refunds[0].Amount != want.Amount || refunds[0].RequestID != "req-unsub" {
		t.Fatalf("refunds=%+v, want one of %d for %s by req-unsub", refunds, want.Amount, ids[0])
	}

	// Unsubscribing again is a no-op: success, no second refund.
	status, b, _ = e.Call(t, "POST", "/v1/instances/delete", token, body, "req-again", nil)
	if status != 200 || string(b) != `{"data":null,"error_code":"0","error_msg":"OK"}` {
		t.Fatalf("second unsubscribe: %d %s", status, b)
	}
	if refunds, err := e.DB.FindRefunds(context.Background(), phonefleet.RefundFilter{TenantID: &tenantID}); err != nil {
		t.Fatal(err)
	} else if len(refunds) != 1 {
		t.Fatalf("refunds after second unsubscribe=%d, want 1", len(refunds))
	}
	events, err := e.DB.FindAuditEvents(context.Background(), phonefleet.AuditFilter{TenantID: &tenantID})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, ev := range events {
		found[ev.RequestID] = ev.ErrorCode
	}
	if found["req-unsub"] != "0" || found["req-again"] != "0" {
		t.Fatalf("audit events by request=%v, want req-unsub and req-again with code 0", found)
	}
}

func TestE2E_TenantIsolation(t *testing.T) {
	e := MustOpenE2E(t)
	_, token1 := e.MustTenant(t, "acme")
	_, token2 := e.MustTenant(t, "globex")
	foreign := e.MustBuy(t, token2, 1, 1)[0]
	mine := e.MustBuy(t, token1, 1, 1)[0]
	missing := "zz" + foreign[2:]
	if missing == foreign || missing == mine {
		missing = "missing1"
	}

	// A foreign ID and a missing one get the same answer, byte for byte
	// apart from the ID itself.
	answer := func(id string) (int, string) {
		status, b, _ := e.Call(t, "POST", "/v1/instances/delete", token1, fmt.Sprintf(`{"instanceIdList":[%q,%q]}`, mine, id), "", nil)
		return status, strings.ReplaceAll(string(b), id, "<id>")
	}
	s1, b1 := answer(foreign)
	s2, b2 := answer(missing)
	if s1 != 400 || s1 != s2 || b1 != b2 {
		t.Fatalf("foreign: %d %s\nmissing: %d %s", s1, b1, s2, b2)
	}
	if want := `{"error_code":"KOOPHONE.API.1012","error_msg":"instances do not belong to the tenant: <id>"}`; b1 != want {
		t.Fatalf("body=%s, want %s", b1, want)
	}
	// Dry runs too.
	status, b, _ := e.Call(t, "POST", "/v1/instances/delete?dry_run=true", token1, fmt.Sprintf(`{"instanceIdList":[%q]}`, foreign), "", nil)
	if status != 400 || !strings.Contains(string(b), phonefleet.ENotOwned) {
		t.Fatalf("dry run of a foreign ID: %d %s", status, b)
	}

	// Nothing changed: both instances still run, for their owners only.
	if got := e.MustStatuses(t, token1, mine, foreign, missing); !reflect.DeepEqual(got, []int{2, 0, 0}) {
		t.Fatalf("tenant 1 statuses=%v, want [2 0 0]", got)
	}
	if got := e.MustStatuses(t, token2, foreign, mine); !reflect.DeepEqual(got, []int{2, 0}) {
		t.Fatalf("tenant 2 statuses=%v, want [2 0]", got)
	}
	// Listing by ID finds the tenant's own instance and not the foreign one.
	for _, tc := range []struct {
		id   string
		want int
	}{{mine, 1}, {foreign, 0}} {
		var page struct {
			Result []struct {
				InstanceID string `json:"instance_id"`
			} `json:"result"`
			TotalCount *int `json:"total_count"`
		}
		status, b, env := e.Call(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=10&instance_id="+tc.id, token1, "", "", &page)
		if status != 200 || env.Code != "0" || page.TotalCount == nil {
			t.Fatalf("batch-query of %s: %d %s", tc.id, status, b)
		} else if *page.TotalCount != tc.want || len(page.Result) != tc.want {
			t.Fatalf("batch-query of %s by tenant 1: total_count=%d, %d results, want %d", tc.id, *page.TotalCount, len(page.Result), tc.want)
		} else if tc.want == 1 && page.Result[0].InstanceID != tc.id {
			t.Fatalf("batch-query of %s listed %s", tc.id, page.Result[0].InstanceID)
		}
	}
}

func TestE2E_PayPerUse(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	monthly := e.MustBuy(t, token, 1, 1)[0]
	ppu := e.MustBuy(t, token, 1, 0)[0]
	_, foreignToken := e.MustTenant(t, "globex")
	foreign := e.MustBuy(t, foreignToken, 1, 1)[0]

	status, b, _ := e.Call(t, "POST", "/v1/instances/delete", token, fmt.Sprintf(`{"instanceIdList":[%q,%q]}`, monthly, ppu), "req-ppu", nil)
	if want := fmt.Sprintf(`{"error_code":"KOOPHONE.API.5001","error_msg":"pay-per-use instances cannot be unsubscribed: %s"}`, ppu); status != 400 || string(b) != want {
		t.Fatalf("unsubscribe with a pay-per-use instance: %d %s, want 400 %s", status, b, want)
	}
	// Ownership is checked before billing mode.
	status, _, env := e.Call(t, "POST", "/v1/instances/delete", token, fmt.Sprintf(`{"instanceIdList":[%q,%q]}`, ppu, foreign), "", nil)
	if status != 400 || env.Code != phonefleet.ENotOwned {
		t.Fatalf("pay-per-use plus foreign: %d %s, want 1012", status, env.Code)
	}

	// Nothing changed.
	if got := e.MustStatuses(t, token, monthly, ppu); !reflect.DeepEqual(got, []int{2, 2}) {
		t.Fatalf("statuses=%v, want [2 2]", got)
	}
	if refunds, err := e.DB.FindRefunds(context.Background(), phonefleet.RefundFilter{TenantID: &tenantID}); err != nil {
		t.Fatal(err)
	} else if len(refunds) != 0 {
		t.Fatalf("refunds=%+v, want none", refunds)
	}
	events, err := e.DB.FindAuditEvents(context.Background(), phonefleet.AuditFilter{TenantID: &tenantID})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, ev := range events {
		audited = audited || ev.RequestID == "req-ppu" && ev.ErrorCode == phonefleet.EPayPerUse
	}
	if !audited {
		t.Fatalf("no audit event with 5001 for req-ppu in %+v", events)
	}
}

func TestE2E_Create(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	status, _, env := e.Call(t, "POST", "/v1/instances/create", token,
		`{"os":"AOSP11","instanceSkuId":"kp.ent.8u16g","bandSkuId":"kp.band.bgp.standard","regionId":"ap-southeast-1",`+
			`"instanceNamePrefix":"x","bandSize":4,"count":1,"chargeParam":{"chargingMode":0}}`, "req-region", nil)
	if status != 400 || env.Code != phonefleet.ESKUNotFound {
		t.Fatalf("unknown region: %d %s %s", status, env.Code, env.Message)
	}
	// A parameter error is audited by the handler, before the store runs.
	status, _, env = e.Call(t, "POST", "/v1/instances/create", token, `{"instanceSkuId":"kp.pro.2u4g"}`, "req-noos", nil)
	if status != 400 || env.Code != phonefleet.EOSRequired {
		t.Fatalf("no os: %d %s", status, env.Code)
	}
	events, err := e.DB.FindAuditEvents(context.Background(), phonefleet.AuditFilter{TenantID: &tenantID})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, ev := range events {
		if ev.Action == phonefleet.ActionInstanceCreate {
			codes[ev.RequestID] = ev.ErrorCode
		}
	}
	if codes["req-region"] != phonefleet.ESKUNotFound || codes["req-noos"] != phonefleet.EOSRequired {
		t.Fatalf("create audit events=%v", codes)
	}
}

// TestE2E_DeleteLimit unsubscribes the most IDs one request may name, 100,
// in one request, and refuses 101 without changing anything.
func TestE2E_DeleteLimit(t *testing.T) {
	e := MustOpenE2E(t)
	tenantID, token := e.MustTenant(t, "acme")
	ids := e.MustBuy(t, token, phonefleet.MaxUnsubscribeIDs+1, 1)
	list := func(ids []string) string {
		b, err := json.Marshal(map[string][]string{"instanceIdList": ids})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	status, b, env := e.Call(t, "POST", "/v1/instances/delete", token, list(ids), "req-101", nil)
	if status != 400 || env.Code != phonefleet.EInvalid || !strings.Contains(env.Message, "instanceIdList") {
		t.Fatalf("101 IDs: %d %s, want 400 %s naming instanceIdList", status, b, phonefleet.EInvalid)
	}
	if refunds, err := e.DB.FindRefunds(context.Background(), phonefleet.RefundFilter{TenantID: &tenantID}); err != nil {
		t.Fatal(err)
	} else if len(refunds) != 0 {
		t.Fatalf("refunds after a refused request=%d, want 0", len(refunds))
	}

	status, b, env = e.Call(t, "POST", "/v1/instances/delete", token, list(ids[:100]), "req-100", nil)
	if status != 200 || env.Code != "0" {
		t.Fatalf("100 IDs: %d %s, want 200", status, b)
	}
	refunds, err := e.DB.FindRefunds(context.Background(), phonefleet.RefundFilter{TenantID: &tenantID})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != 100 {
		t.Fatalf("refunds=%d, want 100", len(refunds))
	}
	got := e.MustStatuses(t, token, ids[:100]...)
	for i, st := range got {
		if st != phonefleet.StatusGoingOffline {
			t.Fatalf("status of %s=%d after unsubscribe, want %d", ids[i], st, phonefleet.StatusGoingOffline)
		}
	}
	if got := e.MustStatuses(t, token, ids[100]); got[0] != phonefleet.StatusRunning {
		t.Fatalf("status of the 101st instance=%d, want %d", got[0], phonefleet.StatusRunning)
	}
}
