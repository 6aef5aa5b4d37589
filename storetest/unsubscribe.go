package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func testUnsubscribe(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 3)
		req.PeriodNum = 3
		ins := mustPurchase(t, s, req)
		// Past the five-day window, so consumption and the fee count.
		clk.Add(10*24*time.Hour + 90*time.Minute)
		now := clk.Now()

		// The expected refunds come from the stored rows and the store's clock.
		var want []phonefleet.Refund
		var total int64
		for _, in := range ins[:2] {
			r := phonefleet.ComputeRefund(mustFindInstance(t, s, tn.ID, in.ID), now)
			r.CreatedAt, r.RequestID = now, "req-1"
			want, total = append(want, r), total+r.Amount
		}
		if want[0].Consumed == 0 || want[0].Fee == 0 || want[0].Amount >= want[0].Paid {
			t.Fatalf("test setup: refund %+v should be prorated with a fee", want[0])
		}

		plan, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
			TenantID: tn.ID, TokenID: "tk-1", RequestID: "req-1", InstanceIDs: []string{ins[1].ID, ins[0].ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Items) != 2 || plan.Items[0].InstanceID != ins[1].ID || plan.Items[1].InstanceID != ins[0].ID {
			t.Fatalf("plan items=%+v, want request order", plan.Items)
		} else if plan.TotalRefund != total || plan.Currency != "USD" {
			t.Fatalf("TotalRefund=%d %s, want %d USD", plan.TotalRefund, plan.Currency, total)
		} else if plan.Items[0].Noop || plan.Items[0].Refund.Amount != want[1].Amount {
			t.Fatalf("plan item=%+v, want refund %d", plan.Items[0], want[1].Amount)
		}

		// Instances: two deleting, one untouched.
		for i, st := range []phonefleet.InstanceState{phonefleet.InstanceStateDeleting, phonefleet.InstanceStateDeleting, phonefleet.InstanceStateRunning} {
			if in := mustFindInstance(t, s, tn.ID, ins[i].ID); in.State != st {
				t.Fatalf("instance %d State=%s, want %s", i, in.State, st)
			} else if st == phonefleet.InstanceStateDeleting && !in.UpdatedAt.Equal(now) {
				t.Fatalf("instance %d UpdatedAt=%v, want %v", i, in.UpdatedAt, now)
			}
		}

		// Refunds: one per instance, as computed.
		refunds := mustFindRefunds(t, s)
		if len(refunds) != 2 {
			t.Fatalf("refunds=%d, want 2", len(refunds))
		}
		for _, w := range want {
			found := false
			for _, r := range refunds {
				if r.InstanceID == w.InstanceID {
					found = true
					if got, want := fmtRefund(r), fmtRefund(&w); got != want {
						t.Fatalf("refund:\n got %s\nwant %s", got, want)
					}
				}
			}
			if !found {
				t.Fatalf("no refund for %s", w.InstanceID)
			}
		}

		// Release jobs: one per instance, pending and due now.
		jobs := mustFindJobs(t, s)
		if len(jobs) != 2 {
			t.Fatalf("release jobs=%d, want 2", len(jobs))
		}
		for _, j := range jobs {
			if j.State != phonefleet.JobStatePending || j.Attempts != 0 || !j.NextAttemptAt.Equal(now) || !j.CreatedAt.Equal(now) ||
				j.RequestID != "req-1" || j.TenantID != tn.ID || j.TenantName != "acme" || j.DoneAt != nil || j.LastError != "" {
				t.Fatalf("release job=%s", fmtJob(j))
			}
		}
		if jobs[0].EventID == "" || jobs[0].EventID == jobs[1].EventID {
			t.Fatalf("event IDs %q, %q must be set and distinct", jobs[0].EventID, jobs[1].EventID)
		}

		// One audit event records the request.
		es := mustFindAudit(t, s)
		if len(es) != 2 { // the purchase and the unsubscribe
			t.Fatalf("audit events=%d, want 2", len(es))
		}
		e := es[0]
		if e.Action != phonefleet.ActionInstanceDelete || e.ErrorCode != phonefleet.ECodeOK || e.RequestID != "req-1" ||
			e.TokenID != "tk-1" || e.TenantID != tn.ID || !e.At.Equal(now) {
			t.Fatalf("audit event=%+v", e)
		}
		wantIDs(t, "audit InstanceIDs", e.InstanceIDs, []string{ins[1].ID, ins[0].ID})
	})

	t.Run("FullRefundWindow", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		in := mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
		clk.Add(phonefleet.FullRefundWindow)
		plan := mustUnsubscribe(t, s, tn.ID, in.ID)
		if r := plan.Items[0].Refund; r.Amount != 1990 || r.Fee != 0 || r.Consumed != 0 {
			t.Fatalf("refund=%+v, want all 1990 back", r)
		}
		if rs := mustFindRefunds(t, s); len(rs) != 1 || rs[0].Amount != 1990 {
			t.Fatalf("stored refunds=%v, want one of 1990", rs)
		}
	})

	t.Run("ErrNotOwned", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		mine := mustPurchase(t, s, monthlyRequest(a.ID, 2))
		theirs := mustPurchase(t, s, monthlyRequest(b.ID, 1))
		before := snapshot(t, s, a.ID, b.ID)

		_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
			TenantID: a.ID, RequestID: "req-bad", InstanceIDs: []string{mine[0].ID, "nosuchid", theirs[0].ID, mine[1].ID},
		})
		wantCode(t, err, phonefleet.ENotOwned)
		if msg := phonefleet.ErrorMessage(err); !strings.HasSuffix(msg, "nosuchid, "+theirs[0].ID) {
			t.Fatalf("message %q must list nosuchid, %s in request order", msg, theirs[0].ID)
		} else if strings.Contains(msg, mine[0].ID) {
			t.Fatalf("message %q lists an owned instance", msg)
		}
		wantSnapshot(t, s, before, a.ID, b.ID)
		wantNoAudit(t, s, "req-bad")
	})

	t.Run("ErrNotOwnedForeignLooksMissing", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		theirs := mustPurchase(t, s, monthlyRequest(b.ID, 1))[0]
		missing := "zz" + theirs.ID[2:] // same shape, no such instance
		if missing == theirs.ID {
			missing = "yy" + theirs.ID[2:]
		}
		unsubscribe := func(id string) error {
			_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: a.ID, InstanceIDs: []string{id}})
			return err
		}
		errForeign, errMissing := unsubscribe(theirs.ID), unsubscribe(missing)
		wantCode(t, errForeign, phonefleet.ENotOwned)
		wantCode(t, errMissing, phonefleet.ENotOwned)
		if f, m := strings.ReplaceAll(errForeign.Error(), theirs.ID, "ID"), strings.ReplaceAll(errMissing.Error(), missing, "ID"); f != m {
			t.Fatalf("foreign and missing IDs answered differently:\n%s\n%s", f, m)
		}
		if in := mustFindInstance(t, s, b.ID, theirs.ID); in.State != phonefleet.InstanceStateRunning {
			t.Fatalf("foreign instance State=%s, want running", in.State)
		}
	})

	t.Run("ErrPayPerUse", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		monthly := mustPurchase(t, s, monthlyRequest(tn.ID, 1))
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 2))
		before := snapshot(t, s, tn.ID)

		_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
			TenantID: tn.ID, RequestID: "req-ppu", InstanceIDs: []string{ppu[1].ID, monthly[0].ID, ppu[0].ID},
		})
		wantCode(t, err, phonefleet.EPayPerUse)
		if msg := phonefleet.ErrorMessage(err); !strings.HasSuffix(msg, ppu[1].ID+", "+ppu[0].ID) {
			t.Fatalf("message %q must list %s, %s", msg, ppu[1].ID, ppu[0].ID)
		}
		wantSnapshot(t, s, before, tn.ID)
		wantNoAudit(t, s, "req-ppu")
	})

	t.Run("ErrNotOwnedBeforePayPerUse", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ppu := mustPurchase(t, s, payPerUseRequest(tn.ID, 1))
		_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, InstanceIDs: []string{ppu[0].ID, "nosuchid"}})
		wantCode(t, err, phonefleet.ENotOwned)
	})

	t.Run("Atomic", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		mine := mustPurchase(t, s, monthlyRequest(a.ID, 4))
		theirs := mustPurchase(t, s, monthlyRequest(b.ID, 1))
		ppu := mustPurchase(t, s, payPerUseRequest(a.ID, 1))
		clk.Add(time.Hour)
		mustUnsubscribe(t, s, a.ID, mine[3].ID) // some history: a deleting instance, a refund, a job
		clk.Add(time.Hour)
		before := snapshot(t, s, a.ID, b.ID)
		audits := len(mustFindAudit(t, s))

		// A bad ID anywhere in the batch fails the whole batch.
		for _, batch := range [][]string{
			{mine[0].ID, mine[1].ID, theirs[0].ID},
			{theirs[0].ID, mine[0].ID},
			{mine[0].ID, mine[1].ID, mine[3].ID, "nosuchid"},
			{mine[0].ID, ppu[0].ID, mine[2].ID},
		} {
			_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: a.ID, InstanceIDs: batch})
			if err == nil {
				t.Fatalf("Unsubscribe(%v) succeeded", batch)
			}
			wantSnapshot(t, s, before, a.ID, b.ID)
		}
		// The stores write no event for a failed attempt: the caller audits
		// it (the HTTP layer, with phonefleet.FailureAuditEvent).
		if got := len(mustFindAudit(t, s)); got != audits {
			t.Fatalf("audit events=%d, want %d (failed attempts write nothing)", got, audits)
		}
	})

	t.Run("Noop", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 3))
		mustUnsubscribe(t, s, tn.ID, ins[0].ID)
		mustRelease(t, s, ins[0].ID) // released instances are no-ops too
		mustUnsubscribe(t, s, tn.ID, ins[1].ID)
		clk.Add(time.Hour)
		before := snapshot(t, s, tn.ID)

		// A batch of only unsubscribed instances succeeds and changes nothing.
		plan := mustUnsubscribe(t, s, tn.ID, ins[0].ID, ins[1].ID)
		if !plan.Items[0].Noop || !plan.Items[1].Noop || plan.TotalRefund != 0 {
			t.Fatalf("plan=%+v, want two no-ops refunding 0", plan)
		}
		wantSnapshot(t, s, before, tn.ID)

		// Mixed with a running one: only that one changes.
		plan = mustUnsubscribe(t, s, tn.ID, ins[1].ID, ins[2].ID)
		if !plan.Items[0].Noop || plan.Items[1].Noop || plan.TotalRefund != plan.Items[1].Refund.Amount {
			t.Fatalf("plan=%+v, want a no-op then a change", plan)
		}
		if rs, js := mustFindRefunds(t, s), mustFindJobs(t, s); len(rs) != 3 || len(js) != 3 {
			t.Fatalf("refunds, jobs=%d, %d, want 3, 3", len(rs), len(js))
		}
		if e := mustFindAudit(t, s)[0]; e.ErrorCode != phonefleet.ECodeOK || !strings.Contains(e.Detail, "no-op 1") {
			t.Fatalf("audit event=%+v, want success noting one no-op", e)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		mustUnsubscribe(t, s, tn.ID, ins[0].ID)
		clk.Add(30 * 24 * time.Hour)
		before := snapshot(t, s, tn.ID)
		audits := len(mustFindAudit(t, s))

		plan, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
			TenantID: tn.ID, RequestID: "req-dry", InstanceIDs: []string{ins[0].ID, ins[1].ID}, DryRun: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := phonefleet.ComputeRefund(mustFindInstance(t, s, tn.ID, ins[1].ID), clk.Now())
		if !plan.Items[0].Noop || plan.Items[1].Noop || plan.Items[1].Refund.Amount != want.Amount || plan.TotalRefund != want.Amount {
			t.Fatalf("plan=%+v, want a no-op and a refund of %d", plan, want.Amount)
		}
		wantSnapshot(t, s, before, tn.ID)
		es := mustFindAudit(t, s)
		if len(es) != audits+1 {
			t.Fatalf("audit events=%d, want %d", len(es), audits+1)
		} else if e := es[0]; e.RequestID != "req-dry" || e.ErrorCode != phonefleet.ECodeOK || !strings.HasPrefix(e.Detail, "dry run") {
			t.Fatalf("audit event=%+v, want the dry run", e)
		}

		// A dry run checks like the real thing.
		_, err = s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, InstanceIDs: []string{"nosuchid"}, DryRun: true})
		wantCode(t, err, phonefleet.ENotOwned)
	})

	t.Run("Concurrent", func(t *testing.T) { testUnsubscribeConcurrent(t, open) })
}

// testUnsubscribeConcurrent runs 24 overlapping unsubscribe requests at
// once: every one succeeds and every instance is refunded and released once.
func testUnsubscribeConcurrent(t *testing.T, open Opener) {
	const workers, batch = 24, 10
	s, clk := mustOpen(t, open)
	tn := mustCreateTenant(t, s, "acme")
	ins := mustPurchase(t, s, monthlyRequest(tn.ID, 40))
	clk.Add(7 * 24 * time.Hour)

	plans := make([]*phonefleet.UnsubscribePlan, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		// Windows of 10 starting every 3 instances over the first 30: each
		// instance is named by 3 or 4 requests.
		batchIDs := ids(ins[(w*3)%30 : (w*3)%30+batch])
		wg.Go(func() {
			<-start
			plans[w], errs[w] = s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: "req-concurrent", InstanceIDs: batchIDs,
			})
		})
	}
	close(start)
	wg.Wait()

	var planned int64
	changed := make(map[string]int)
	for w, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", w, err)
		}
		planned += plans[w].TotalRefund
		for _, it := range plans[w].Changes() {
			changed[it.InstanceID]++
		}
	}

	// Which instances were named at all.
	named := make(map[string]bool)
	for w := range workers {
		for _, in := range ins[(w*3)%30 : (w*3)%30+batch] {
			named[in.ID] = true
		}
	}
	for id := range named {
		if changed[id] != 1 {
			t.Fatalf("instance %s changed by %d requests, want exactly 1", id, changed[id])
		}
	}

	refunds, jobs := mustFindRefunds(t, s), mustFindJobs(t, s)
	if len(refunds) != len(named) || len(jobs) != len(named) {
		t.Fatalf("refunds, jobs=%d, %d, want %d each", len(refunds), len(jobs), len(named))
	}
	var refunded int64
	perInstance := make(map[string]int)
	for _, r := range refunds {
		perInstance[r.InstanceID]++
		refunded += r.Amount
	}
	for _, j := range jobs {
		perInstance[j.InstanceID] += 10
	}
	for id := range named {
		if perInstance[id] != 11 {
			t.Fatalf("instance %s: refunds %d, jobs %d, want 1 each", id, perInstance[id]%10, perInstance[id]/10)
		}
	}
	if refunded != planned {
		t.Fatalf("stored refunds total %d, answered plans total %d", refunded, planned)
	}
	for _, in := range mustFindInstances(t, s, tn.ID) {
		want := phonefleet.InstanceStateRunning
		if named[in.ID] {
			want = phonefleet.InstanceStateDeleting
		}
		if in.State != want {
			t.Fatalf("instance %s State=%s, want %s", in.ID, in.State, want)
		}
	}
}

// wantNoAudit fails unless no audit event has the request ID: a store
// writes nothing for a failed operation, its audit event included (the
// caller audits the failure).
func wantNoAudit(t *testing.T, s phonefleet.Store, requestID string) {
	t.Helper()
	for _, e := range mustFindAudit(t, s) {
		if e.RequestID == requestID {
			t.Fatalf("audit event %+v written for the failed request %s", e, requestID)
		}
	}
}
