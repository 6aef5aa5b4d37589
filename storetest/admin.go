package storetest

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testAdmin checks what operators do beyond creating: suspension, deleting
// a tenant, instances by state, prices per region and retiring a SKU.
func testAdmin(t *testing.T, open Opener) {
	t.Run("Suspend", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		other := mustCreateTenant(t, s, "other")
		got, err := s.SetTenantSuspended(t.Context(), "acme", true)
		if err != nil {
			t.Fatal(err)
		} else if got.SuspendedAt == nil || !got.SuspendedAt.Equal(clk.Now()) {
			t.Fatalf("SuspendedAt=%v, want %v", got.SuspendedAt, clk.Now())
		}
		first := *got.SuspendedAt
		clk.Add(time.Hour)
		if got, err = s.SetTenantSuspended(t.Context(), "acme", true); err != nil || !got.SuspendedAt.Equal(first) {
			t.Fatalf("suspend twice: %v, %v; want the first time %v kept", got.SuspendedAt, err, first)
		}
		ids, err := s.SuspendedTenantIDs(t.Context())
		if err != nil || len(ids) != 1 || ids[0] != tn.ID {
			t.Fatalf("SuspendedTenantIDs=%v, %v; want [%s] (not %s)", ids, err, tn.ID, other.ID)
		}
		if found, _ := s.FindTenantByName(t.Context(), "acme"); found.SuspendedAt == nil {
			t.Fatal("FindTenantByName does not show the suspension")
		}
		if got, err = s.SetTenantSuspended(t.Context(), "acme", false); err != nil || got.SuspendedAt != nil {
			t.Fatalf("resume: %v, %v", got, err)
		}
		if ids, _ := s.SuspendedTenantIDs(t.Context()); len(ids) != 0 {
			t.Fatalf("SuspendedTenantIDs after resume=%v", ids)
		}
		_, err = s.SetTenantSuspended(t.Context(), "nobody", true)
		wantCode(t, err, phonefleet.ENotFound)
	})

	t.Run("DeleteTenant", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		counts, err := s.CountInstancesByState(t.Context())
		if err != nil || counts[tn.ID][phonefleet.InstanceStateRunning] != 2 {
			t.Fatalf("CountInstancesByState=%v, %v; want 2 running", counts, err)
		}
		wantCode(t, s.DeleteTenant(t.Context(), "acme"), phonefleet.EConflict)
		if _, err := s.FindTenantByName(t.Context(), "acme"); err != nil {
			t.Fatalf("a refused delete removed the tenant: %v", err)
		}
		mustUnsubscribe(t, s, tn.ID, ins[0].ID, ins[1].ID)
		wantCode(t, s.DeleteTenant(t.Context(), "acme"), phonefleet.EConflict) // deleting, not released
		if jobs, err := s.ClaimCommands(t.Context(), "test-releaser", 1000, time.Minute); err != nil || len(jobs) != 2 {
			t.Fatalf("ClaimCommands=%d jobs, %v; want the 2 releases", len(jobs), err)
		}
		for _, in := range ins {
			if err := s.CompleteCommand(t.Context(), jobOf(t, s, in.ID), "test-releaser"); err != nil {
				t.Fatalf("CompleteCommand: %v", err)
			}
		}
		if err := s.DeleteTenant(t.Context(), "acme"); err != nil {
			t.Fatalf("DeleteTenant once all is released: %v", err)
		}
		_, err = s.FindTenantByName(t.Context(), "acme")
		wantCode(t, err, phonefleet.ENotFound)
		wantCode(t, s.DeleteTenant(t.Context(), "acme"), phonefleet.ENotFound)
		// The name is free again.
		mustCreateTenant(t, s, "acme")
	})

	t.Run("SumMonthMoney", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		acme := mustCreateTenant(t, s, "acme")
		other := mustCreateTenant(t, s, "other")
		idle := mustCreateTenant(t, s, "idle")
		// Bought the month before: not this month's.
		clk.Set(time.Date(2025, 2, 28, 23, 59, 59, 0, time.UTC))
		old := mustPurchase(t, s, monthlyRequest(acme.ID, 1))
		clk.Set(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
		ins := mustPurchase(t, s, monthlyRequest(acme.ID, 2))
		plan := mustUnsubscribe(t, s, acme.ID, ins[0].ID, old[0].ID)
		mustPurchase(t, s, payPerUseRequest(other.ID, 1))
		threeMonths := monthlyRequest(other.ID, 3)
		threeMonths.PeriodNum = 3
		otherIns := mustPurchase(t, s, threeMonths)
		clk.Add(10 * 24 * time.Hour)
		got, err := s.SumMonthMoney(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		paid := ins[0].PaidAmount
		want := phonefleet.MonthMoney{Month: "2025-03", MonthRevenue: 2 * paid, MonthRefunds: plan.TotalRefund, Currency: phonefleet.Currency}
		if plan.TotalRefund <= 0 || got[acme.ID] != want {
			t.Fatalf("acme's month: %+v, want %+v (2 bought this month, 2 refunded, one bought the month before)", got[acme.ID], want)
		}
		want = phonefleet.MonthMoney{Month: "2025-03", MonthRevenue: 3 * otherIns[0].PaidAmount, Currency: phonefleet.Currency}
		if got[other.ID] != want {
			t.Fatalf("other's month: %+v, want %+v (pay-per-use adds nothing)", got[other.ID], want)
		}
		if m, ok := got[idle.ID]; ok && (m.MonthRevenue != 0 || m.MonthRefunds != 0) {
			t.Fatalf("idle tenant's month: %+v", m)
		}
		// A new month starts from nothing.
		clk.Set(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
		mustUnsubscribe(t, s, other.ID, otherIns[0].ID)
		got, err = s.SumMonthMoney(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m := got[acme.ID]; m.MonthRevenue != 0 || m.MonthRefunds != 0 {
			t.Fatalf("acme in April: %+v, want nothing", m)
		}
		if m := got[other.ID]; m.Month != "2025-04" || m.MonthRevenue != 0 || m.MonthRefunds <= 0 || m.MonthRefunds > otherIns[0].PaidAmount {
			t.Fatalf("other in April: %+v, want one refund of at most %d", m, otherIns[0].PaidAmount)
		}
	})

	t.Run("SKUPriceAndRetire", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		p := phonefleet.RegionPrice{Region: "cn-north-4", MonthPrice: 2500, YearPrice: 25000, HourPrice: 5}
		sku, err := s.SetSKUPrice(t.Context(), "kp.pro.2u4g", p)
		if err != nil {
			t.Fatal(err)
		} else if len(sku.Prices) != 1 || sku.Prices[0] != p {
			t.Fatalf("Prices=%+v, want [%+v]", sku.Prices, p)
		}
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 1))
		if ins[0].PaidAmount != 2500 {
			t.Fatalf("PaidAmount=%d in cn-north-4, want the region's 2500", ins[0].PaidAmount)
		}
		req := monthlyRequest(tn.ID, 1)
		req.RegionID = "ap-southeast-1"
		if ins := mustPurchase(t, s, req); ins[0].PaidAmount != 1990 {
			t.Fatalf("PaidAmount=%d in ap-southeast-1, want the base 1990", ins[0].PaidAmount)
		}
		p.MonthPrice = 2600
		if sku, err = s.SetSKUPrice(t.Context(), "kp.pro.2u4g", p); err != nil || sku.Prices[0].MonthPrice != 2600 {
			t.Fatalf("set again: %+v, %v", sku, err)
		}
		_, err = s.SetSKUPrice(t.Context(), "kp.pro.2u4g", phonefleet.RegionPrice{Region: "eu-west-9", MonthPrice: 1, YearPrice: 1, HourPrice: 1})
		wantCode(t, err, phonefleet.EInvalid)
		_, err = s.SetSKUPrice(t.Context(), "kp.none", p)
		wantCode(t, err, phonefleet.ENotFound)

		if sku, err = s.RetireSKU(t.Context(), "kp.pro.2u4g"); err != nil || sku.RetiredAt == nil {
			t.Fatalf("RetireSKU: %+v, %v", sku, err)
		}
		_, _, err = s.Purchase(t.Context(), monthlyRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.ESKUNotFound)
		// Its instances keep working: they can be unsubscribed.
		mustUnsubscribe(t, s, tn.ID, ins[0].ID)
		_, err = s.RetireSKU(t.Context(), "kp.none")
		wantCode(t, err, phonefleet.ENotFound)
	})
}
