package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testQuota: a purchase past the tenant's quota changes nothing and is
// EQuota with the counts; released instances stop counting; 0 is unlimited.
func testQuota(t *testing.T, open Opener) {
	t.Run("Refused", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := &phonefleet.Tenant{Name: "acme", MaxInstances: 5}
		if err := s.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
		mustPurchase(t, s, monthlyRequest(tn.ID, 3))
		_, _, err := s.Purchase(t.Context(), monthlyRequest(tn.ID, 3))
		wantCode(t, err, phonefleet.EQuota)
		if msg := phonefleet.ErrorMessage(err); msg != "instance quota exceeded: tenant holds 3 of 5; this order asks for 3" {
			t.Fatalf("message %q", msg)
		}
		if got := mustFindInstances(t, s, tn.ID); len(got) != 3 {
			t.Fatalf("instances=%d after a refused purchase, want 3", len(got))
		}
		// The refusal writes nothing, no audit event either: the HTTP layer
		// audits it.
		if es := mustFindAudit(t, s); len(es) != 1 || es[0].ErrorCode != phonefleet.ECodeOK {
			t.Fatalf("audit=%+v, want only the first purchase", es)
		}
		// Up to the quota exactly is fine.
		mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		got, err := s.FindTenantByName(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		} else if got.HeldInstances != 5 || got.MaxInstances != 5 {
			t.Fatalf("tenant holds %d of %d, want 5 of 5", got.HeldInstances, got.MaxInstances)
		}
	})

	t.Run("ReleasedFreesQuota", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := &phonefleet.Tenant{Name: "acme", MaxInstances: 2}
		if err := s.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		mustUnsubscribe(t, s, tn.ID, ins[0].ID)
		// Deleting still holds the instance.
		_, _, err := s.Purchase(t.Context(), monthlyRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.EQuota)
		clk.Add(time.Second)
		mustRelease(t, s, ins[0].ID)
		mustPurchase(t, s, monthlyRequest(tn.ID, 1))
		// Completing the release again does not count it twice.
		if err := s.CompleteCommand(t.Context(), jobOf(t, s, ins[0].ID), "test-releaser"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.FindTenantByName(t.Context(), "acme"); got.HeldInstances != 2 {
			t.Fatalf("held=%d, want 2", got.HeldInstances)
		}
	})

	t.Run("UpdateAndUnlimited", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := &phonefleet.Tenant{Name: "acme", MaxInstances: 1}
		if err := s.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Purchase(t.Context(), monthlyRequest(tn.ID, 2))
		wantCode(t, err, phonefleet.EQuota)
		got, err := s.UpdateTenantQuota(t.Context(), "acme", 0)
		if err != nil {
			t.Fatal(err)
		} else if got.MaxInstances != 0 || got.ID != tn.ID {
			t.Fatalf("UpdateTenantQuota returned %+v", got)
		}
		mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		_, err = s.UpdateTenantQuota(t.Context(), "nope", 3)
		wantCode(t, err, phonefleet.ENotFound)
		_, err = s.UpdateTenantQuota(t.Context(), "acme", -1)
		wantCode(t, err, phonefleet.EInvalid)
		// A quota below what the tenant holds refuses more but keeps all.
		if _, err := s.UpdateTenantQuota(t.Context(), "acme", 1); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Purchase(t.Context(), monthlyRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.EQuota)
		if ts, err := s.FindTenants(t.Context()); err != nil || len(ts) != 1 || ts[0].MaxInstances != 1 || ts[0].HeldInstances != 2 {
			t.Fatalf("FindTenants=%+v, %v", ts, err)
		}
	})
}

// testPurchaseReplay: a purchase with a request ID the tenant used within
// the replay window and the same parameters buys nothing and answers the
// first purchase; with other parameters it buys nothing and is EInvalid.
func testPurchaseReplay(t *testing.T, open Opener) {
	s, clk := mustOpen(t, open)
	a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
	req := monthlyRequest(a.ID, 3)
	req.RequestID = "retry-me"
	o1, ins1, err := s.Purchase(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	same := monthlyRequest(a.ID, 3)
	same.RequestID, same.TokenID = "retry-me", "another-token" // who retries does not matter
	o2, ins2, err := s.Purchase(t.Context(), same)
	if err != nil {
		t.Fatal(err)
	}
	if o2.ID != o1.ID || !slices.Equal(ids(ins2), ids(ins1)) {
		t.Fatalf("replay answered order %s %v, want %s %v", o2.ID, ids(ins2), o1.ID, ids(ins1))
	}
	for i := range ins1 {
		if ins2[i].Name != ins1[i].Name {
			t.Fatalf("replay names %s, want %s", ins2[i].Name, ins1[i].Name)
		}
	}
	// Any other parameter: refused, nothing bought.
	for _, change := range []func(*phonefleet.PurchaseRequest){
		func(r *phonefleet.PurchaseRequest) { r.Count = 7 },
		func(r *phonefleet.PurchaseRequest) { r.Count = 1 },
		func(r *phonefleet.PurchaseRequest) { r.AutoRenew = !r.AutoRenew },
		func(r *phonefleet.PurchaseRequest) { r.NamePrefix += "x" },
		func(r *phonefleet.PurchaseRequest) { r.Extra = `{"body":{"x":1}}` },
	} {
		other := monthlyRequest(a.ID, 3)
		other.RequestID = "retry-me"
		change(other)
		o, _, err := s.Purchase(t.Context(), other)
		if phonefleet.ErrorCode(err) != phonefleet.EInvalid || phonefleet.ErrorMessage(err) != "X-Request-Id retry-me was used for a different purchase" {
			t.Fatalf("retry with another body: %v, %v; want EInvalid naming the request ID", o, err)
		}
	}
	if got := mustFindInstances(t, s, a.ID); len(got) != 3 {
		t.Fatalf("instances=%d after a replay and refused retries, want 3", len(got))
	}
	if tn, err := s.FindTenantByName(t.Context(), "a"); err != nil || tn.HeldInstances != 3 {
		t.Fatalf("tenant after refused retries: %+v, %v; want 3 instances held", tn, err)
	}
	// Another tenant's same request ID is its own purchase.
	other := monthlyRequest(b.ID, 1)
	other.RequestID = "retry-me"
	if o, _, err := s.Purchase(t.Context(), other); err != nil || o.ID == o1.ID {
		t.Fatalf("other tenant's purchase: %v, %v", o, err)
	}
	// After the window the ID buys again, whatever the body.
	clk.Add(phonefleet.PurchaseReplayWindow)
	again := monthlyRequest(a.ID, 7)
	again.RequestID = "retry-me"
	if o, ins, err := s.Purchase(t.Context(), again); err != nil || o.ID == o1.ID || len(ins) != 7 {
		t.Fatalf("purchase after the window: %v, %d instances, %v", o, len(ins), err)
	}
}

// testFindInstancesExtensions: phonefleet's batch-query filters and sort.
func testFindInstancesExtensions(t *testing.T, open Opener) {
	s, clk := mustOpen(t, open)
	a := mustCreateTenant(t, s, "a")
	monthly := mustPurchase(t, s, monthlyRequest(a.ID, 2))
	clk.Add(time.Hour)
	ppuReq := payPerUseRequest(a.ID, 1)
	ppuReq.RegionID = "ap-southeast-1"
	ppu := mustPurchase(t, s, ppuReq)
	clk.Add(time.Hour)
	mustUnsubscribe(t, s, a.ID, monthly[1].ID)
	clk.Add(time.Second)
	mustRelease(t, s, monthly[1].ID)

	find := func(f phonefleet.InstanceFilter) []string {
		t.Helper()
		f.TenantID, f.Limit = a.ID, allInstances
		ins, total, err := s.FindInstances(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		} else if total != len(ins) {
			t.Fatalf("total=%d for %d instances", total, len(ins))
		}
		return ids(ins)
	}
	running, released, deleting := phonefleet.InstanceStateRunning, phonefleet.InstanceStateReleased, phonefleet.InstanceStateDeleting
	wantIDs(t, "state=running", find(phonefleet.InstanceFilter{State: &running}), []string{monthly[0].ID, ppu[0].ID})
	wantIDs(t, "state=released", find(phonefleet.InstanceFilter{State: &released}), []string{monthly[1].ID})
	wantIDs(t, "state=deleting", find(phonefleet.InstanceFilter{State: &deleting}), nil)
	wantIDs(t, "prePaid", find(phonefleet.InstanceFilter{Prepaid: ptr(true), IncludeReleased: true}), slices.Sorted(slices.Values(ids(monthly))))
	wantIDs(t, "postPaid", find(phonefleet.InstanceFilter{Prepaid: ptr(false)}), []string{ppu[0].ID})
	wantIDs(t, "region", find(phonefleet.InstanceFilter{RegionID: ptr("ap-southeast-1")}), []string{ppu[0].ID})
	wantIDs(t, "region none", find(phonefleet.InstanceFilter{RegionID: ptr("nowhere")}), nil)
	wantIDs(t, "assign_user", find(phonefleet.InstanceFilter{AssignUser: ptr("someone")}), nil)
	wantIDs(t, "-created_at", find(phonefleet.InstanceFilter{Descending: true}), []string{ppu[0].ID, monthly[0].ID})
	if monthly[0].ID < monthly[1].ID {
		wantIDs(t, "-created_at released", find(phonefleet.InstanceFilter{Descending: true, IncludeReleased: true}), []string{ppu[0].ID, monthly[1].ID, monthly[0].ID})
	} else {
		wantIDs(t, "-created_at released", find(phonefleet.InstanceFilter{Descending: true, IncludeReleased: true}), []string{ppu[0].ID, monthly[0].ID, monthly[1].ID})
	}
}
