package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// mustDeletePayPerUse deletes the pay-per-use instances ids of tenantID.
func mustDeletePayPerUse(t *testing.T, s phonefleet.Store, tenantID string, ids ...string) *phonefleet.DeletePayPerUsePlan {
	t.Helper()
	plan, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{
		TenantID: tenantID, TokenID: "tk-test", RequestID: "req-delete-ppu", InstanceIDs: ids,
	})
	if err != nil {
		t.Fatalf("DeletePayPerUse(%v): %v", ids, err)
	}
	return plan
}

func testDeletePayPerUse(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 3))
		monthly := mustPurchase(t, s, monthlyRequest(tn.ID, 1))
		clk.Add(26*time.Hour + 17*time.Second)
		now := clk.Now()

		plan, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{
			TenantID: tn.ID, TokenID: "tk-1", UserName: "alice", ClientAddr: "192.0.2.7", RequestID: "req-1",
			InstanceIDs: []string{ppu[2].ID, ppu[0].ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Items) != 2 || plan.Items[0].InstanceID != ppu[2].ID || plan.Items[1].InstanceID != ppu[0].ID ||
			plan.Items[0].Noop || plan.Items[1].Noop {
			t.Fatalf("plan items=%+v, want two changes in request order", plan.Items)
		} else if !plan.ChargeEndedAt.Equal(now) {
			t.Fatalf("ChargeEndedAt=%v, want %v", plan.ChargeEndedAt, now)
		}

		// Two deleting with their charge ended now; the others untouched.
		for _, tt := range []struct {
			in    *phonefleet.Instance
			state phonefleet.InstanceState
		}{
			{ppu[0], phonefleet.InstanceStateDeleting}, {ppu[1], phonefleet.InstanceStateRunning},
			{ppu[2], phonefleet.InstanceStateDeleting}, {monthly[0], phonefleet.InstanceStateRunning},
		} {
			in := mustFindInstance(t, s, tn.ID, tt.in.ID)
			if in.State != tt.state {
				t.Fatalf("instance %s State=%s, want %s", in.ID, in.State, tt.state)
			}
			if tt.state == phonefleet.InstanceStateDeleting {
				if in.ChargeEndedAt == nil || !in.ChargeEndedAt.Equal(now) || !in.UpdatedAt.Equal(now) {
					t.Fatalf("instance %s ChargeEndedAt=%s UpdatedAt=%v, want both %v", in.ID, fmtTime(in.ChargeEndedAt), in.UpdatedAt, now)
				}
			} else if in.ChargeEndedAt != nil {
				t.Fatalf("instance %s ChargeEndedAt=%v, want nil", in.ID, *in.ChargeEndedAt)
			}
		}

		// One release command each, due now; no refund at all.
		jobs := mustFindJobs(t, s)
		if len(jobs) != 2 {
			t.Fatalf("commands=%d, want 2", len(jobs))
		}
		for _, j := range jobs {
			if j.Type != phonefleet.CommandRelease || j.State != phonefleet.JobStatePending || !j.NextAttemptAt.Equal(now) ||
				j.RequestID != "req-1" || j.TenantID != tn.ID || (j.InstanceID != ppu[0].ID && j.InstanceID != ppu[2].ID) {
				t.Fatalf("command=%s, want a pending release due now", fmtJob(j))
			}
		}
		if rs := mustFindRefunds(t, s); len(rs) != 0 {
			t.Fatalf("refunds=%d, want none: nothing was paid up front", len(rs))
		}

		// One audit event records the request.
		e := mustFindAudit(t, s)[0]
		if e.Action != phonefleet.ActionInstanceDeletePayPerUse || e.ErrorCode != phonefleet.ECodeOK || e.RequestID != "req-1" ||
			e.TokenID != "tk-1" || e.Actor != "alice" || e.ClientAddr != "192.0.2.7" || e.DryRun || !e.At.Equal(now) ||
			!strings.HasPrefix(e.Detail, "deleted 2 pay-per-use, no-op 0") {
			t.Fatalf("audit event=%+v", e)
		}
		wantIDs(t, "audit InstanceIDs", e.InstanceIDs, []string{ppu[2].ID, ppu[0].ID})
	})

	t.Run("ErrNotOwned", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		mine := mustPurchase(t, s, payPerUseRequest(a.ID, 2))
		theirs := mustPurchase(t, s, payPerUseRequest(b.ID, 1))
		monthly := mustPurchase(t, s, monthlyRequest(a.ID, 1))
		before := snapshot(t, s, a.ID, b.ID)

		_, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{
			TenantID: a.ID, RequestID: "req-bad", InstanceIDs: []string{mine[0].ID, "nosuchid", monthly[0].ID, theirs[0].ID, mine[1].ID},
		})
		wantCode(t, err, phonefleet.ENotOwned)
		if msg := phonefleet.ErrorMessage(err); msg != "instances do not belong to the tenant: nosuchid, "+theirs[0].ID {
			t.Fatalf("message %q must list nosuchid, %s in request order and nothing else", msg, theirs[0].ID)
		}
		wantSnapshot(t, s, before, a.ID, b.ID)
		wantNoAudit(t, s, "req-bad")

		// A foreign ID answers as a missing one does.
		missing := "zz" + theirs[0].ID[2:]
		del := func(id string) error {
			_, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{TenantID: a.ID, InstanceIDs: []string{id}})
			return err
		}
		errForeign, errMissing := del(theirs[0].ID), del(missing)
		if f, m := strings.ReplaceAll(errForeign.Error(), theirs[0].ID, "ID"), strings.ReplaceAll(errMissing.Error(), missing, "ID"); f != m {
			t.Fatalf("foreign and missing IDs answered differently:\n%s\n%s", f, m)
		}
		wantSnapshot(t, s, before, a.ID, b.ID)
	})

	t.Run("ErrPrepaid", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 1))
		monthly := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		mustUnsubscribe(t, s, tn.ID, monthly[1].ID) // an unsubscribed monthly one is refused too
		before := snapshot(t, s, tn.ID)

		_, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{
			TenantID: tn.ID, RequestID: "req-prepaid", InstanceIDs: []string{monthly[1].ID, ppu[0].ID, monthly[0].ID},
		})
		wantCode(t, err, phonefleet.EInvalid)
		if msg := phonefleet.ErrorMessage(err); !strings.HasPrefix(msg, "instanceIdList: not pay-per-use instances: "+monthly[1].ID+", "+monthly[0].ID+" ") {
			t.Fatalf("message %q must list %s, %s", msg, monthly[1].ID, monthly[0].ID)
		}
		wantSnapshot(t, s, before, tn.ID)
		wantNoAudit(t, s, "req-prepaid")
	})

	t.Run("Atomic", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		mine := mustPurchase(t, s, payPerUseRequest(a.ID, 4))
		theirs := mustPurchase(t, s, payPerUseRequest(b.ID, 1))
		monthly := mustPurchase(t, s, monthlyRequest(a.ID, 1))
		clk.Add(time.Hour)
		mustDeletePayPerUse(t, s, a.ID, mine[3].ID) // some history
		clk.Add(time.Hour)
		before := snapshot(t, s, a.ID, b.ID)
		audits := len(mustFindAudit(t, s))

		for _, batch := range [][]string{
			{mine[0].ID, mine[1].ID, theirs[0].ID},
			{mine[0].ID, mine[3].ID, "nosuchid"},
			{mine[0].ID, monthly[0].ID, mine[2].ID},
		} {
			if _, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{TenantID: a.ID, InstanceIDs: batch}); err == nil {
				t.Fatalf("DeletePayPerUse(%v) succeeded", batch)
			}
			wantSnapshot(t, s, before, a.ID, b.ID)
		}
		if got := len(mustFindAudit(t, s)); got != audits {
			t.Fatalf("audit events=%d, want %d (failed attempts write nothing)", got, audits)
		}
	})

	t.Run("Noop", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 3))
		mustDeletePayPerUse(t, s, tn.ID, ppu[0].ID)
		mustRelease(t, s, ppu[0].ID) // released instances are no-ops too
		mustDeletePayPerUse(t, s, tn.ID, ppu[1].ID)
		ended := clk.Now()
		clk.Add(time.Hour)
		before := snapshot(t, s, tn.ID)

		// A batch of only deleted instances succeeds and changes nothing:
		// their charges still end when they were deleted.
		plan := mustDeletePayPerUse(t, s, tn.ID, ppu[0].ID, ppu[1].ID)
		if len(plan.Changes()) != 0 {
			t.Fatalf("plan=%+v, want two no-ops", plan.Items)
		}
		wantSnapshot(t, s, before, tn.ID)
		if in := mustFindInstance(t, s, tn.ID, ppu[1].ID); in.ChargeEndedAt == nil || !in.ChargeEndedAt.Equal(ended) {
			t.Fatalf("ChargeEndedAt=%s, want %v", fmtTime(in.ChargeEndedAt), ended)
		}

		// Mixed with a running one: only that one changes.
		plan = mustDeletePayPerUse(t, s, tn.ID, ppu[1].ID, ppu[2].ID)
		if !plan.Items[0].Noop || plan.Items[1].Noop {
			t.Fatalf("plan=%+v, want a no-op then a change", plan.Items)
		}
		if js, rs := mustFindJobs(t, s), mustFindRefunds(t, s); len(js) != 3 || len(rs) != 0 {
			t.Fatalf("commands, refunds=%d, %d, want 3, 0", len(js), len(rs))
		}
		if e := mustFindAudit(t, s)[0]; e.ErrorCode != phonefleet.ECodeOK || !strings.HasPrefix(e.Detail, "deleted 1 pay-per-use, no-op 1") {
			t.Fatalf("audit event=%+v, want success noting one no-op", e)
		}
	})

	t.Run("CancelsCommandInFlight", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		in := mustPurchase(t, s, payPerUseRequest(tn.ID, 1))[0]
		reboot := mustStart(t, s, tn.ID, phonefleet.CommandReboot, in.ID).Commands[0]
		mustDeletePayPerUse(t, s, tn.ID, in.ID)
		cs, err := s.FindCommands(t.Context(), phonefleet.CommandFilter{InstanceID: &in.ID})
		if err != nil {
			t.Fatal(err)
		}
		var canceled, release bool
		for _, c := range cs {
			canceled = canceled || (c.ID == reboot.ID && c.State == phonefleet.JobStateCanceled)
			release = release || (c.Type == phonefleet.CommandRelease && c.State == phonefleet.JobStatePending)
		}
		if !canceled || !release {
			t.Fatalf("commands=%v, want the reboot canceled and a pending release", cs)
		}
	})

	t.Run("QuotaFreedAfterRelease", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := &phonefleet.Tenant{Name: "acme", MaxInstances: 2}
		if err := s.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 2))
		_, _, err := s.Purchase(t.Context(), payPerUseRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.EQuota)

		// Deleting holds the quota until the data plane has released it.
		mustDeletePayPerUse(t, s, tn.ID, ppu[0].ID)
		_, _, err = s.Purchase(t.Context(), payPerUseRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.EQuota)

		mustRelease(t, s, ppu[0].ID)
		mustPurchase(t, s, payPerUseRequest(tn.ID, 1))
		if got, err := s.FindTenantByName(t.Context(), "acme"); err != nil {
			t.Fatal(err)
		} else if got.HeldInstances != 2 {
			t.Fatalf("tenant holds %d, want 2", got.HeldInstances)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 2))
		mustDeletePayPerUse(t, s, tn.ID, ppu[0].ID)
		before := snapshot(t, s, tn.ID)
		audits := len(mustFindAudit(t, s))

		plan, err := s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{
			TenantID: tn.ID, RequestID: "req-dry", InstanceIDs: []string{ppu[0].ID, ppu[1].ID}, DryRun: true,
		})
		if err != nil {
			t.Fatal(err)
		} else if !plan.Items[0].Noop || plan.Items[1].Noop {
			t.Fatalf("plan=%+v, want a no-op and a change", plan.Items)
		}
		wantSnapshot(t, s, before, tn.ID)
		es := mustFindAudit(t, s)
		if len(es) != audits+1 {
			t.Fatalf("audit events=%d, want %d", len(es), audits+1)
		} else if e := es[0]; e.RequestID != "req-dry" || !e.DryRun || !strings.HasPrefix(e.Detail, "dry run") {
			t.Fatalf("audit event=%+v, want the dry run", e)
		}
		_, err = s.DeletePayPerUse(t.Context(), &phonefleet.DeletePayPerUseRequest{TenantID: tn.ID, InstanceIDs: []string{"nosuchid"}, DryRun: true})
		wantCode(t, err, phonefleet.ENotOwned)
	})
}

// testDeletePayPerUseClock: a charge ends at the tenant's business time,
// while the release command is due at wall time.
func testDeletePayPerUseClock(t *testing.T, open Opener) {
	s, clk := mustOpen(t, open)
	c, ok := s.(phonefleet.ClockService)
	if !ok {
		t.Fatalf("%T does not implement phonefleet.ClockService", s)
	}
	tn := mustCreateTenant(t, s, "acme")
	in := mustPurchase(t, s, payPerUseRequest(tn.ID, 1))[0]
	span, err := phonefleet.ParseClockAdvance("50h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: tn.ID, Advance: &span, UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	business, err := c.BusinessNow(t.Context(), tn.ID)
	if err != nil {
		t.Fatal(err)
	} else if business.Equal(clk.Now()) {
		t.Fatal("test setup: the tenant's clock did not move")
	}
	plan := mustDeletePayPerUse(t, s, tn.ID, in.ID)
	if !plan.ChargeEndedAt.Equal(business) {
		t.Fatalf("plan ChargeEndedAt=%v, want the business time %v", plan.ChargeEndedAt, business)
	}
	if got := mustFindInstance(t, s, tn.ID, in.ID); got.ChargeEndedAt == nil || !got.ChargeEndedAt.Equal(business) {
		t.Fatalf("ChargeEndedAt=%s, want the business time %v", fmtTime(got.ChargeEndedAt), business)
	}
	if j := mustFindJob(t, s, in.ID); !j.NextAttemptAt.Equal(clk.Now()) {
		t.Fatalf("release due %v, want the wall time %v", j.NextAttemptAt, clk.Now())
	}
}
