package phonefleet_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestUnsubscribeAuditEvent(t *testing.T) {
	now := time.Date(2024, 3, 3, 20, 0, 0, 0, time.FixedZone("CST", 8*3600)) // 12:00 UTC
	ids := []string{"m1", "del", "late", "rel", "y1"}
	plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: ids}, unsubscribeFixture(t), now)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name         string
		dryRun       bool
		plan         *phonefleet.UnsubscribePlan
		code, detail string
	}{
		// 3 changed, 2 no-ops, 1990 + 1407 + 19900 = 23297 (see TestPlanUnsubscribe_OK).
		{"OK", false, plan, "0", "unsubscribed 3, no-op 2, refund 232.97 USD"},
		{"DryRun", true, plan, "0", "dry run: would have unsubscribed 3, no-op 2, refund 232.97 USD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := &phonefleet.UnsubscribeRequest{TenantID: "t1", TokenID: "tk1", RequestID: "req-9", InstanceIDs: ids, DryRun: tt.dryRun}
			e := phonefleet.UnsubscribeAuditEvent(req, tt.plan, now)
			if e.ErrorCode != tt.code || e.Detail != tt.detail {
				t.Fatalf("ErrorCode/Detail=%q/%q, want %q/%q", e.ErrorCode, e.Detail, tt.code, tt.detail)
			}
			if e.Action != "instanceDelete" || e.TenantID != "t1" || e.TokenID != "tk1" || e.RequestID != "req-9" {
				t.Fatalf("event=%+v: request fields not copied", e)
			}
			if !slices.Equal(e.InstanceIDs, ids) {
				t.Fatalf("InstanceIDs=%v, want %v", e.InstanceIDs, ids)
			}
			if !e.At.Equal(now) || e.At.Location() != time.UTC {
				t.Fatalf("At=%v, want %v in UTC", e.At, now)
			}
		})
	}
}

func TestPurchaseAuditEvent(t *testing.T) {
	now := time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)
	req := validPurchase()
	newID, _ := SeqIDs()
	o, ins, err := phonefleet.PlanPurchase(req, testSKU(), now, newID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		e := phonefleet.PurchaseAuditEvent(req, o, ins, now)
		if e.ErrorCode != "0" || e.Action != "instanceCreate" || e.TenantID != "t1" || e.TokenID != "tk1" || e.RequestID != "req-1" {
			t.Fatalf("event=%+v, want a successful instanceCreate of t1/tk1/req-1", e)
		}
		if !slices.Equal(e.InstanceIDs, []string{"id-1", "id-2"}) {
			t.Fatalf("InstanceIDs=%v, want [id-1 id-2]", e.InstanceIDs)
		}
		// 2 monthly instances at 1000 each: total 2000.
		for _, part := range []string{o.ID, "2 monthly", "kp.test", "r-1", "20.00 USD"} {
			if !strings.Contains(e.Detail, part) {
				t.Fatalf("Detail=%q, want it to contain %q", e.Detail, part)
			}
		}
	})
}

func TestFailureAuditEvent(t *testing.T) {
	now := time.Date(2024, 3, 3, 20, 0, 0, 0, time.FixedZone("CST", 8*3600))
	p := &phonefleet.Principal{TenantID: "t1", TenantName: "acme", TokenID: "tk1"}
	for _, tt := range []struct {
		name         string
		err          error
		code, detail string
	}{
		{"ErrNotOwned", phonefleet.Errorf(phonefleet.ENotOwned, "instances do not belong to the tenant: zz"),
			"KOOPHONE.API.1012", "instances do not belong to the tenant: zz"},
		{"ErrSKUNotFound", phonefleet.Errorf(phonefleet.ESKUNotFound, "regionId \"r-9\" does not offer instanceSkuId \"kp.test\""),
			"KOOPHONE.API.3002", "regionId \"r-9\" does not offer instanceSkuId \"kp.test\""},
		{"ErrInternal", errors.New("database is locked"), "KOOPHONE.API.9999", "Internal service error."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := phonefleet.FailureAuditEvent(phonefleet.ActionInstanceDelete, p, "req-9", []string{"m1", "zz"}, tt.err, now)
			if e.ErrorCode != tt.code || e.Detail != tt.detail {
				t.Fatalf("ErrorCode/Detail=%q/%q, want %q/%q", e.ErrorCode, e.Detail, tt.code, tt.detail)
			}
			if e.Action != "instanceDelete" || e.TenantID != "t1" || e.TenantName != "acme" || e.TokenID != "tk1" || e.RequestID != "req-9" {
				t.Fatalf("event=%+v: caller fields not copied", e)
			}
			if !slices.Equal(e.InstanceIDs, []string{"m1", "zz"}) {
				t.Fatalf("InstanceIDs=%v, want [m1 zz]", e.InstanceIDs)
			}
			if !e.At.Equal(now) || e.At.Location() != time.UTC {
				t.Fatalf("At=%v, want %v in UTC", e.At, now)
			}
		})
	}

	t.Run("NoPrincipalNoIDs", func(t *testing.T) {
		e := phonefleet.FailureAuditEvent(phonefleet.ActionInstanceCreate, nil, "req-1", nil, phonefleet.Errorf(phonefleet.EInvalid, "os is required"), now)
		if e.TenantID != "" || e.TokenID != "" || e.InstanceIDs == nil || len(e.InstanceIDs) != 0 {
			t.Fatalf("event=%+v, want no tenant or token and an empty, non-nil ID list", e)
		}
	})

	t.Run("BoundedIDs", func(t *testing.T) {
		ids := make([]string, 150)
		for i := range ids {
			ids[i] = strings.Repeat("x", 100)
		}
		ids[0] = strings.Repeat("a", 63) + "é" // a rune cut at byte 64
		e := phonefleet.FailureAuditEvent(phonefleet.ActionInstanceDelete, p, "req-1", ids, phonefleet.Errorf(phonefleet.EInvalid, "bad"), now)
		if len(e.InstanceIDs) != 100 {
			t.Fatalf("len(InstanceIDs)=%d, want 100", len(e.InstanceIDs))
		}
		if got := e.InstanceIDs[0]; got != strings.Repeat("a", 63) {
			t.Fatalf("InstanceIDs[0]=%q, want 63 a's (the cut rune dropped)", got)
		}
		if got := len(e.InstanceIDs[1]); got != 64 {
			t.Fatalf("len(InstanceIDs[1])=%d, want 64", got)
		}
	})
}
