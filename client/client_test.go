package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/sqlite"
)

// mustServer starts a server on a fresh SQLite store and returns its URL
// and the store.
func mustServer(t *testing.T) (string, *sqlite.DB) {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "phonefleet.db"))
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := pfhttp.NewServer()
	s.Addr, s.Store, s.Logger = ":0", db, slog.New(slog.DiscardHandler)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.URL(), db
}

// mustToken creates tenant name and returns a token of role for it.
func mustToken(t *testing.T, db *sqlite.DB, name, role string) string {
	t.Helper()
	ctx := context.Background()
	tn := &phonefleet.Tenant{Name: name}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(role)
	now := time.Now()
	if err := db.CreateToken(ctx, &phonefleet.Token{
		ID: id, TenantID: tn.ID, Name: "client", Actions: actions, Hash: phonefleet.HashToken(secret),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	return secret
}

func monthly(count int) client.CreateRequest {
	return client.CreateRequest{
		OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4",
		InstanceNamePrefix: "c", BandSize: 2, Count: count,
		ChargeParam: client.ChargeParam{ChargingMode: 1, PeriodType: 2, PeriodNum: 1},
	}
}

// TestClient_Calls drives every tenant call through the client against a
// real server and checks what each returns.
func TestClient_Calls(t *testing.T) {
	url, db := mustServer(t)
	ctx := context.Background()
	cl := client.New(url, mustToken(t, db, "acme", phonefleet.RoleAdmin))
	other := client.New(url, mustToken(t, db, "other", phonefleet.RoleAdmin))

	cat, err := cl.SKUs(ctx)
	if err != nil {
		t.Fatal(err)
	} else if cat.BandInfo.CBCSKUID != phonefleet.BandSKUID || len(cat.SKUSpecResponseList) == 0 {
		t.Fatalf("catalogue: %+v", cat)
	}

	order, err := cl.Create(ctx, monthly(3), "order-1")
	if err != nil {
		t.Fatal(err)
	} else if len(order.InstanceInfos) != 3 || order.OrderID == "" {
		t.Fatalf("order: %+v", order)
	}
	ids := []string{order.InstanceInfos[0].InstanceID, order.InstanceInfos[1].InstanceID, order.InstanceInfos[2].InstanceID}
	if _, err := other.Create(ctx, monthly(1), ""); err != nil {
		t.Fatal(err)
	}

	page, err := cl.BatchQuery(ctx, client.Query{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	} else if page.TotalCount != 3 || len(page.Result) != 2 || page.Result[0].InstanceID != slices.Min(ids) {
		// bought at once: in ID order
		t.Fatalf("batch-query page 1 of 2: %+v", page)
	}

	dry, err := cl.UnsubscribeDryRun(ctx, ids[:2])
	if err != nil {
		t.Fatal(err)
	} else if !dry.DryRun || len(dry.Instances) != 2 || dry.TotalRefund != dry.Instances[0].RefundAmount+dry.Instances[1].RefundAmount || dry.TotalRefund <= 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	if err := cl.Unsubscribe(ctx, ids[:2]); err != nil {
		t.Fatal(err)
	}
	st, err := cl.BatchQueryStatus(ctx, ids)
	if err != nil {
		t.Fatal(err)
	} else if len(st) != 3 || st[0].Status != 3 || st[1].Status != 3 || st[2].Status != 2 {
		t.Fatalf("statuses after unsubscribing two: %+v", st)
	}

	refunds, err := cl.Refunds(ctx, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range refunds.Result {
		total += r.Amount
	}
	if refunds.TotalCount != 2 || total != dry.TotalRefund {
		t.Fatalf("refunds %+v total %d, want 2 totalling the dry run's %d", refunds, total, dry.TotalRefund)
	}
	audit, err := cl.Audit(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	} else if audit.TotalCount != 3 || len(audit.Result) != 1 || audit.Result[0].Action != phonefleet.ActionInstanceDelete || audit.Result[0].ErrorCode != "0" ||
		audit.Result[0].ClientAddr != "127.0.0.1" {
		// purchase, dry run, unsubscribe; newest first
		t.Fatalf("audit page 1 of size 1: %+v", audit)
	}
	if r, err := other.Refunds(ctx, 1, 10); err != nil || r.TotalCount != 0 {
		t.Fatalf("another tenant sees %+v, %v; want no refunds", r, err)
	}

	if err := cl.Assign(ctx, []client.UserInstance{{UserID: "u1", InstanceID: ids[2]}}); err != nil {
		t.Fatal(err)
	}
	prep, err := cl.Prepare(ctx, "u1", ids[2:])
	if err != nil || len(prep) != 1 || prep[0].Status != 0 {
		t.Fatalf("prepare: %+v, %v", prep, err)
	}
	res, err := cl.Reboot(ctx, ids[2:])
	if err != nil || len(res.CmdJobs) != 1 || res.CmdJobs[0].InstanceID != ids[2] {
		t.Fatalf("reboot: %+v, %v", res, err)
	}
	// A reboot in flight: the next command is refused with the API's code.
	_, err = cl.Reset(ctx, ids[2:])
	if code := phonefleet.ErrorCode(err); code != phonefleet.ENotAllRunning {
		t.Fatalf("reset during a reboot: %v, want %s", err, phonefleet.ENotAllRunning)
	}
	if _, err := cl.Unassign(ctx, []client.UserInstance{{UserID: "u1", InstanceID: ids[2]}}); phonefleet.ErrorCode(err) != phonefleet.ENotAllRunning {
		t.Fatalf("unassign during a reboot: %v, want %s", err, phonefleet.ENotAllRunning)
	}
}

// TestClient_DeletePayPerUse deletes a pay-per-use instance through the
// client: the dry run says what would change, the deletion answers
// without error, a repeat is a no-op, and a monthly instance is refused
// with the API's code.
func TestClient_DeletePayPerUse(t *testing.T) {
	url, db := mustServer(t)
	ctx := context.Background()
	cl := client.New(url, mustToken(t, db, "acme", phonefleet.RoleAdmin))
	req := monthly(2)
	req.ChargeParam = client.ChargeParam{ChargingMode: 0}
	order, err := cl.Create(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{order.InstanceInfos[0].InstanceID, order.InstanceInfos[1].InstanceID}
	m, err := cl.Create(ctx, monthly(1), "")
	if err != nil {
		t.Fatal(err)
	}

	dry, err := cl.DeletePayPerUseDryRun(ctx, ids[:1])
	if err != nil || !dry.DryRun || len(dry.Instances) != 1 || dry.Instances[0].InstanceID != ids[0] || dry.Instances[0].Noop {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if err := cl.DeletePayPerUse(ctx, ids[:1]); err != nil {
		t.Fatal(err)
	}
	st, err := cl.BatchQueryStatus(ctx, ids)
	if err != nil || st[0].Status != 3 || st[1].Status != 2 {
		t.Fatalf("statuses after deleting one: %+v, %v", st, err)
	}
	if dry, err := cl.DeletePayPerUseDryRun(ctx, ids[:1]); err != nil || !dry.Instances[0].Noop {
		t.Fatalf("dry run of a deleted instance: %+v, %v; want a no-op", dry, err)
	}
	if err := cl.DeletePayPerUse(ctx, ids[:1]); err != nil {
		t.Fatalf("repeat: %v, want a no-op", err)
	}
	err = cl.DeletePayPerUse(ctx, []string{ids[1], m.InstanceInfos[0].InstanceID})
	if phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Fatalf("with a monthly instance: %v, want %s", err, phonefleet.EInvalid)
	}
}

// TestClient_Errors checks that error answers come back as
// *phonefleet.Error with the API's code and message.
func TestClient_Errors(t *testing.T) {
	url, db := mustServer(t)
	ctx := context.Background()
	viewer := client.New(url, mustToken(t, db, "acme", phonefleet.RoleViewer))

	var e *phonefleet.Error
	err := viewer.Unsubscribe(ctx, []string{"x"})
	if !errors.As(err, &e) || e.Code != phonefleet.EForbidden || e.Message == "" {
		t.Fatalf("viewer unsubscribe: %v, want %s", err, phonefleet.EForbidden)
	}
	err = client.New(url, "wrong").Unsubscribe(ctx, []string{"x"})
	if !errors.As(err, &e) || e.Code != phonefleet.EUnauthorized || e.Message != "Incorrect IAM authentication information: token is invalid" {
		t.Fatalf("bad token: %v", err)
	}
	admin := client.New(url, mustToken(t, db, "beta", phonefleet.RoleAdmin))
	err = admin.Unsubscribe(ctx, []string{"nosuch"})
	if !errors.As(err, &e) || e.Code != phonefleet.ENotOwned {
		t.Fatalf("unknown ID: %v", err)
	}
	if _, err := admin.Refunds(ctx, 1, 1001); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Fatalf("page_size 1001: %v", err)
	}
}

// TestClient_Retries checks which calls are sent again after a 503: reads
// and unsubscribe up to MaxAttempts, reboot once.
func TestClient_Retries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error_code":"KOOPHONE.API.9999","error_msg":"busy"}`))
	}))
	defer srv.Close()
	cl := client.New(srv.URL, "t")
	cl.Backoff = time.Millisecond
	ctx := context.Background()

	for _, c := range []struct {
		name string
		call func() error
		want int32
	}{
		{"batch-query", func() error { _, err := cl.BatchQuery(ctx, client.Query{}); return err }, 3},
		{"unsubscribe", func() error { return cl.Unsubscribe(ctx, []string{"a"}) }, 3},
		{"delete-pay-per-use", func() error { return cl.DeletePayPerUse(ctx, []string{"a"}) }, 3},
		{"create", func() error { _, err := cl.Create(ctx, monthly(1), ""); return err }, 3},
		{"reboot", func() error { _, err := cl.Reboot(ctx, []string{"a"}); return err }, 1},
		{"batch-reset", func() error { _, err := cl.Reset(ctx, []string{"a"}); return err }, 1},
		{"unassign", func() error { _, err := cl.Unassign(ctx, nil); return err }, 1},
	} {
		calls.Store(0)
		err := c.call()
		if phonefleet.ErrorCode(err) != phonefleet.EInternal || calls.Load() != c.want {
			t.Errorf("%s: %v after %d attempts, want %s after %d", c.name, err, calls.Load(), phonefleet.EInternal, c.want)
		}
	}
}

// TestClient_RetrySameRequestID checks that every attempt of a purchase
// carries the same X-Request-Id.
func TestClient_RetrySameRequestID(t *testing.T) {
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, r.Header.Get("X-Request-Id"))
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	cl := client.New(srv.URL, "t")
	cl.Backoff = time.Millisecond
	if _, err := cl.Create(context.Background(), monthly(1), ""); err == nil {
		t.Fatal("no error from a 502")
	}
	if len(ids) != 3 || ids[0] == "" || slices.Compact(slices.Clone(ids))[0] != ids[0] || len(slices.Compact(slices.Clone(ids))) != 1 {
		t.Fatalf("request IDs of the attempts: %q, want three equal", ids)
	}
}
