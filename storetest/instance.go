package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func testPurchase(t *testing.T, open Opener) {
	t.Run("Monthly", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 2)
		req.PeriodNum, req.AutoPay, req.AutoRenew = 3, true, true
		o, ins, err := s.Purchase(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		now := clk.Now()
		if o.ID == "" || o.UnitPrice != 1990*3 || o.Total != 1990*3*2 || o.Count != 2 || !o.AutoPay || !o.AutoRenew {
			t.Fatalf("order=%+v, want unit 5970, total 11940, count 2, auto pay/renew", o)
		} else if !o.CreatedAt.Equal(now) {
			t.Fatalf("order CreatedAt=%v, want %v", o.CreatedAt, now)
		}
		expires := now.AddDate(0, 3, 0)
		for i, in := range ins {
			want := &phonefleet.Instance{
				ID: in.ID, TenantID: tn.ID, OrderID: o.ID, Name: fmt.Sprintf("phone-%04d", i+1),
				RegionID: "cn-north-4", SKUID: "kp.pro.2u4g",
				SKUSpec: "Professional edition | 2 vCPUs | 4 GB | 32 GB storage | Maximum resolution: 720p",
				OS:      "AOSP11", BandSize: 4, BillingMode: phonefleet.BillingModeMonthly, PeriodNum: 3,
				PaidAmount: 5970, Currency: "USD", StartsAt: now, ExpiresAt: &expires,
				State: phonefleet.InstanceStateRunning, CreatedAt: now, UpdatedAt: now,
			}
			if got, want := fmtInstance(in), fmtInstance(want); got != want {
				t.Fatalf("Purchase instance:\n got %s\nwant %s", got, want)
			}
			// What the store returns later is what Purchase returned.
			if got, want := fmtInstance(mustFindInstance(t, s, tn.ID, in.ID)), fmtInstance(want); got != want {
				t.Fatalf("stored instance:\n got %s\nwant %s", got, want)
			}
		}
	})

	t.Run("Yearly", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 1)
		req.InstanceSKUID, req.BandSize, req.PeriodType, req.PeriodNum = "kp.ent.8u16g", 16, phonefleet.PeriodTypeYear, 2
		in := mustPurchase(t, s, req)[0]
		got := mustFindInstance(t, s, tn.ID, in.ID)
		if got.BillingMode != phonefleet.BillingModeYearly || got.PeriodNum != 2 || got.PaidAmount != 69900*2 {
			t.Fatalf("mode, period, paid=%s, %d, %d, want yearly, 2, 139800", got.BillingMode, got.PeriodNum, got.PaidAmount)
		} else if want := clk.Now().AddDate(2, 0, 0); got.ExpiresAt == nil || !got.ExpiresAt.Equal(want) {
			t.Fatalf("ExpiresAt=%s, want %v", fmtTime(got.ExpiresAt), want)
		}
	})

	t.Run("PayPerUse", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		o, ins, err := s.Purchase(t.Context(), payPerUseRequest(tn.ID, 2))
		if err != nil {
			t.Fatal(err)
		} else if o.Total != 0 || o.BillingMode != phonefleet.BillingModePayPerUse {
			t.Fatalf("order total, mode=%d, %s, want 0, pay_per_use", o.Total, o.BillingMode)
		}
		got := mustFindInstance(t, s, tn.ID, ins[1].ID)
		if got.BillingMode != phonefleet.BillingModePayPerUse || got.PaidAmount != 0 || got.PeriodNum != 0 || got.ExpiresAt != nil {
			t.Fatalf("instance=%s, want pay_per_use, paid 0, no period, no expiry", fmtInstance(got))
		} else if got.Name != "ppu-0002" {
			t.Fatalf("Name=%q, want ppu-0002", got.Name)
		}
	})

	t.Run("Max", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, phonefleet.MaxPurchaseCount))
		if len(ins) != phonefleet.MaxPurchaseCount {
			t.Fatalf("len(instances)=%d, want %d", len(ins), phonefleet.MaxPurchaseCount)
		}
		seen := make(map[string]bool)
		for i, in := range ins {
			if seen[in.ID] {
				t.Fatalf("instance ID %s returned twice", in.ID)
			}
			seen[in.ID] = true
			if want := fmt.Sprintf("phone-%04d", i+1); in.Name != want {
				t.Fatalf("Name[%d]=%q, want %q", i, in.Name, want)
			}
		}
		stored := mustFindInstances(t, s, tn.ID)
		if len(stored) != phonefleet.MaxPurchaseCount {
			t.Fatalf("stored instances=%d, want %d", len(stored), phonefleet.MaxPurchaseCount)
		}
		for _, in := range stored {
			if !seen[in.ID] {
				t.Fatalf("stored instance %s was not returned by Purchase", in.ID)
			}
		}
		if es := mustFindAudit(t, s); len(es) != 1 || len(es[0].InstanceIDs) != phonefleet.MaxPurchaseCount {
			t.Fatalf("audit events=%d, want 1 listing %d instances", len(es), phonefleet.MaxPurchaseCount)
		}
	})

	t.Run("Audit", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 3)
		ins := mustPurchase(t, s, req)
		es := mustFindAudit(t, s)
		if len(es) != 1 {
			t.Fatalf("audit events=%d, want 1", len(es))
		}
		e := es[0]
		if e.Action != phonefleet.ActionInstanceCreate || e.ErrorCode != phonefleet.ECodeOK || e.TenantID != tn.ID ||
			e.TenantName != "acme" || e.TokenID != "tk-test" || e.RequestID != req.RequestID || !e.At.Equal(clk.Now()) {
			t.Fatalf("audit event=%+v", e)
		}
		wantIDs(t, "audit InstanceIDs", e.InstanceIDs, ids(ins))
	})

	// A purchase for a tenant that does not exist violates a foreign key:
	// every store answers not-found naming the tenant and writes nothing.
	t.Run("ErrTenantNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		req := monthlyRequest("tnnosuchtenant", 2)
		o, ins, err := s.Purchase(t.Context(), req)
		wantCode(t, err, phonefleet.ENotFound)
		if o != nil || ins != nil {
			t.Fatalf("Purchase returned %v, %v with an error", o, ins)
		} else if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, "tnnosuchtenant") {
			t.Fatalf("message %q does not name the tenant", msg)
		}
		if got := mustFindInstances(t, s, "tnnosuchtenant"); len(got) != 0 {
			t.Fatalf("instances=%d after failed purchase, want 0", len(got))
		}
		if es := mustFindAudit(t, s); len(es) != 0 {
			t.Fatalf("audit events=%+v after a failed purchase, want none", es)
		}
	})

	// Catalogue errors write nothing, no audit event either (the caller
	// audits failures).
	for _, tc := range []struct {
		name   string
		change func(*phonefleet.PurchaseRequest)
		code   string
		field  string
	}{
		{"ErrUnknownSKU", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID = "kp.nope" }, phonefleet.ESKUNotFound, "kp.nope"},
		{"ErrUnknownBand", func(r *phonefleet.PurchaseRequest) { r.BandSKUID = "kp.band.nope" }, phonefleet.ESKUNotFound, "kp.band.nope"},
		{"ErrUnknownRegion", func(r *phonefleet.PurchaseRequest) { r.RegionID = "mars-1" }, phonefleet.ESKUNotFound, "mars-1"},
		{"ErrRegionNotOffered", func(r *phonefleet.PurchaseRequest) {
			r.InstanceSKUID, r.RegionID, r.BandSize = "kp.ent.8u16g", "ap-southeast-1", 8
		}, phonefleet.ESKUNotFound, "ap-southeast-1"},
		{"ErrBandSize", func(r *phonefleet.PurchaseRequest) { r.BandSize = 3 }, phonefleet.EInvalid, "bandSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := mustOpen(t, open)
			tn := mustCreateTenant(t, s, "acme")
			req := monthlyRequest(tn.ID, 5)
			tc.change(req)
			o, ins, err := s.Purchase(t.Context(), req)
			wantCode(t, err, tc.code)
			if o != nil || ins != nil {
				t.Fatalf("Purchase returned %v, %v with an error", o, ins)
			} else if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, tc.field) {
				t.Fatalf("message %q does not name %q", msg, tc.field)
			}
			if got := mustFindInstances(t, s, tn.ID); len(got) != 0 {
				t.Fatalf("instances=%d after failed purchase, want 0", len(got))
			}
			if es := mustFindAudit(t, s); len(es) != 0 {
				t.Fatalf("audit events=%+v after a failed purchase, want none", es)
			}
		})
	}
}

func testFindInstances(t *testing.T, open Opener) {
	// Tenant a buys 3 at t0 and 2 at t1 = t0+1h; tenant b buys 2 at t1.
	setup := func(t *testing.T) (s phonefleet.Store, clk *clock, a, b *phonefleet.Tenant, first, second, other []*phonefleet.Instance) {
		s, clk = mustOpen(t, open)
		a, b = mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		req := monthlyRequest(a.ID, 3)
		req.NamePrefix = "first"
		first = mustPurchase(t, s, req)
		clk.Add(time.Hour)
		req = monthlyRequest(a.ID, 2)
		req.NamePrefix = "second"
		second = mustPurchase(t, s, req)
		other = mustPurchase(t, s, monthlyRequest(b.ID, 2))
		return
	}
	find := func(t *testing.T, s phonefleet.Store, f phonefleet.InstanceFilter) ([]string, int) {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = allInstances
		}
		ins, total, err := s.FindInstances(t.Context(), f)
		if err != nil {
			t.Fatalf("FindInstances(%+v): %v", f, err)
		}
		return ids(ins), total
	}
	// sorted returns the IDs of each group sorted, groups in order: the
	// order of instances created at the same time is their ID.
	sorted := func(groups ...[]*phonefleet.Instance) []string {
		var out []string
		for _, g := range groups {
			out = append(out, slices.Sorted(slices.Values(ids(g)))...)
		}
		return out
	}

	t.Run("Order", func(t *testing.T) {
		s, _, a, _, first, second, _ := setup(t)
		got, total := find(t, s, phonefleet.InstanceFilter{TenantID: a.ID})
		wantIDs(t, "instances", got, sorted(first, second))
		if total != 5 {
			t.Fatalf("total=%d, want 5", total)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		s, _, a, _, first, second, _ := setup(t)
		var all []string
		for offset := 0; offset < 6; offset += 2 {
			page, total := find(t, s, phonefleet.InstanceFilter{TenantID: a.ID, Offset: offset, Limit: 2})
			if total != 5 {
				t.Fatalf("offset %d: total=%d, want 5", offset, total)
			} else if want := min(2, 5-offset); len(page) != want {
				t.Fatalf("offset %d: page of %d, want %d", offset, len(page), want)
			}
			all = append(all, page...)
		}
		wantIDs(t, "pages", all, sorted(first, second))

		// A page past the end is empty but still reports the total.
		page, total := find(t, s, phonefleet.InstanceFilter{TenantID: a.ID, Offset: 10, Limit: 2})
		if len(page) != 0 || total != 5 {
			t.Fatalf("past the end: page %v, total %d, want empty, 5", page, total)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s, clk, a, _, first, second, other := setup(t)
		t0, t1 := clk.Now().Add(-time.Hour), clk.Now()
		for _, tc := range []struct {
			name   string
			filter phonefleet.InstanceFilter
			want   []string
		}{
			{"ID", phonefleet.InstanceFilter{ID: &first[1].ID}, []string{first[1].ID}},
			{"ForeignID", phonefleet.InstanceFilter{ID: &other[0].ID}, nil},
			{"Name", phonefleet.InstanceFilter{Name: ptr("second-0002")}, []string{second[1].ID}},
			{"NameNoMatch", phonefleet.InstanceFilter{Name: ptr("second")}, nil},
			{"CreatedFrom", phonefleet.InstanceFilter{CreatedFrom: &t1}, sorted(second)},
			{"CreatedTo", phonefleet.InstanceFilter{CreatedTo: &t0}, sorted(first)},
			{"CreatedFromToInclusive", phonefleet.InstanceFilter{CreatedFrom: &t0, CreatedTo: &t0}, sorted(first)},
			{"CreatedEmptyRange", phonefleet.InstanceFilter{CreatedFrom: ptr(t0.Add(time.Second)), CreatedTo: ptr(t1.Add(-time.Second))}, nil},
			{"Combined", phonefleet.InstanceFilter{Name: ptr("first-0003"), CreatedFrom: &t0, CreatedTo: &t1}, []string{first[2].ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.filter
				f.TenantID = a.ID
				got, total := find(t, s, f)
				if len(got) == 0 {
					got = nil
				}
				wantIDs(t, "instances", got, tc.want)
				if total != len(tc.want) {
					t.Fatalf("total=%d, want %d", total, len(tc.want))
				}
			})
		}
	})

	t.Run("TenantScope", func(t *testing.T) {
		s, _, _, b, _, _, other := setup(t)
		got, total := find(t, s, phonefleet.InstanceFilter{TenantID: b.ID})
		wantIDs(t, "instances", got, sorted(other))
		if total != 2 {
			t.Fatalf("total=%d, want 2", total)
		}
		got, total = find(t, s, phonefleet.InstanceFilter{TenantID: "tnnosuchtenant"})
		if len(got) != 0 || total != 0 {
			t.Fatalf("unknown tenant: %v, total %d, want none", got, total)
		}
	})

	t.Run("IncludeReleased", func(t *testing.T) {
		s, _, a, _, first, second, _ := setup(t)
		gone := first[0].ID
		mustUnsubscribe(t, s, a.ID, gone)
		mustRelease(t, s, gone)

		got, total := find(t, s, phonefleet.InstanceFilter{TenantID: a.ID})
		if slices.Contains(got, gone) || total != 4 {
			t.Fatalf("default: %v, total %d; want 4 without released %s", got, total, gone)
		}
		got, total = find(t, s, phonefleet.InstanceFilter{TenantID: a.ID, IncludeReleased: true})
		wantIDs(t, "with released", got, sorted(first, second))
		if total != 5 {
			t.Fatalf("total=%d, want 5", total)
		}
		if in := mustFindInstance(t, s, a.ID, gone); in.State != phonefleet.InstanceStateReleased {
			t.Fatalf("State=%s, want released", in.State)
		}
		if got, _ := find(t, s, phonefleet.InstanceFilter{TenantID: a.ID, ID: &gone}); len(got) != 0 {
			t.Fatalf("released instance found by ID without IncludeReleased")
		}
	})
}

func testFindInstanceStatuses(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		mine := mustPurchase(t, s, monthlyRequest(a.ID, 3))
		theirs := mustPurchase(t, s, monthlyRequest(b.ID, 1))
		mustUnsubscribe(t, s, a.ID, mine[1].ID, mine[2].ID)
		mustRelease(t, s, mine[2].ID)

		states, err := s.FindInstanceStatuses(t.Context(), a.ID, []string{mine[0].ID, theirs[0].ID, "nosuchid", mine[1].ID, mine[2].ID})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]phonefleet.InstanceStatus{
			mine[0].ID: {State: phonefleet.InstanceStateRunning},
			mine[1].ID: {State: phonefleet.InstanceStateDeleting, Command: phonefleet.CommandRelease},
			mine[2].ID: {State: phonefleet.InstanceStateReleased},
		}
		if len(states) != len(want) {
			t.Fatalf("states=%v, want %v", states, want)
		}
		for id, st := range want {
			if states[id] != st {
				t.Fatalf("states[%s]=%+v, want %+v", id, states[id], st)
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		a := mustCreateTenant(t, s, "a")
		states, err := s.FindInstanceStatuses(t.Context(), a.ID, []string{"nosuchid"})
		if err != nil {
			t.Fatal(err)
		} else if len(states) != 0 {
			t.Fatalf("states=%v, want none", states)
		}
	})
}

// mustRelease claims the instance's release job (and, with a limit of
// every job, any other due ones) and completes it, as the worker does.
func mustRelease(t *testing.T, s phonefleet.Store, instanceID string) {
	t.Helper()
	jobs, err := s.ClaimCommands(t.Context(), "test-releaser", 1000, time.Minute)
	if err != nil {
		t.Fatalf("ClaimCommands: %v", err)
	} else if !slices.ContainsFunc(jobs, func(j *phonefleet.Command) bool { return j.InstanceID == instanceID }) {
		t.Fatalf("release job of %s not claimable", instanceID)
	}
	if err := s.CompleteCommand(t.Context(), jobOf(t, s, instanceID), "test-releaser"); err != nil {
		t.Fatalf("CompleteCommand: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
