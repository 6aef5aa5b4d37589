package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// RunTestClock runs the test clock's suite against stores that open returns
// with the test clock on; they must implement phonefleet.ClockService.
func RunTestClock(t *testing.T, open Opener) {
	clockOf := func(t *testing.T, s phonefleet.Store) phonefleet.ClockService {
		t.Helper()
		c, ok := s.(phonefleet.ClockService)
		if !ok {
			t.Fatalf("%T does not implement phonefleet.ClockService", s)
		}
		return c
	}
	businessNow := func(t *testing.T, c phonefleet.ClockService, tenantID string) time.Time {
		t.Helper()
		now, err := c.BusinessNow(t.Context(), tenantID)
		if err != nil {
			t.Fatal(err)
		}
		return now
	}
	moveTo := func(t *testing.T, c phonefleet.ClockService, tenantID string, to time.Time) *phonefleet.ClockPlan {
		t.Helper()
		p, err := c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: tenantID, Now: &to, TokenID: "tk1", RequestID: "req-clock"})
		if err != nil {
			t.Fatalf("MoveClock(%s, now %v): %v", tenantID, to, err)
		}
		return p
	}
	advance := func(t *testing.T, c phonefleet.ClockService, tenantID, d string) (*phonefleet.ClockPlan, error) {
		t.Helper()
		span, err := phonefleet.ParseClockAdvance(d)
		if err != nil {
			t.Fatal(err)
		}
		return c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: tenantID, Advance: &span, UserName: "alice"})
	}

	t.Run("Lifecycle", func(t *testing.T) { testLifecycleClocks(t, open) })

	t.Run("SumMonthMoney", func(t *testing.T) {
		// Each tenant's month is its own business time's: a clock moved
		// into the next month starts that tenant's month afresh.
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		ahead := mustCreateTenant(t, s, "ahead")
		other := mustCreateTenant(t, s, "other")
		mustPurchase(t, s, monthlyRequest(ahead.ID, 2))
		moveTo(t, c, ahead.ID, time.Date(2025, 4, 15, 0, 0, 0, 0, time.UTC))
		ins := mustPurchase(t, s, monthlyRequest(ahead.ID, 1))
		mustPurchase(t, s, monthlyRequest(other.ID, 1))
		got, err := s.SumMonthMoney(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		price := ins[0].PaidAmount
		if want := (phonefleet.MonthMoney{Month: "2025-04", MonthRevenue: price, Currency: phonefleet.Currency}); got[ahead.ID] != want {
			t.Fatalf("month of the tenant whose clock is ahead: %+v, want %+v", got[ahead.ID], want)
		}
		if want := (phonefleet.MonthMoney{Month: phonefleet.MonthKey(clk.Now()), MonthRevenue: price, Currency: phonefleet.Currency}); got[other.ID] != want {
			t.Fatalf("month of the other tenant: %+v, want %+v", got[other.ID], want)
		}
	})

	t.Run("DeletePayPerUse", func(t *testing.T) { testDeletePayPerUseClock(t, open) })
	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		tn := mustCreateTenant(t, s, "acme")
		if got := businessNow(t, c, tn.ID); !got.Equal(clk.Now()) {
			t.Fatalf("BusinessNow=%v before any move, want %v", got, clk.Now())
		}
		target := clk.Now().Add(121 * time.Hour)
		if p := moveTo(t, c, tn.ID, target); !p.New.Equal(target) || !p.Old.Equal(clk.Now()) {
			t.Fatalf("MoveClock=%+v; want %v -> %v", p, clk.Now(), target)
		}
		clk.Add(time.Minute) // real time goes on under the offset
		if got := businessNow(t, c, tn.ID); !got.Equal(target.Add(time.Minute)) {
			t.Fatalf("BusinessNow=%v, want %v", got, target.Add(time.Minute))
		}
		// Moving to the current business time is allowed, and so is any
		// non-negative advance; back is not, and changes nothing.
		cur := businessNow(t, c, tn.ID)
		moveTo(t, c, tn.ID, cur)
		for _, d := range []string{"0s", "1us", "1h"} {
			before := businessNow(t, c, tn.ID)
			p, err := advance(t, c, tn.ID, d)
			span, _ := phonefleet.ParseClockAdvance(d)
			if err != nil || !p.New.Equal(span.AddTo(before)) || !businessNow(t, c, tn.ID).Equal(p.New) {
				t.Fatalf("advance %s from %v: %+v, %v", d, before, p, err)
			}
		}
		if _, err := advance(t, c, tn.ID, "1ns"); err != nil { // below PostgreSQL's microsecond: no move there
			t.Fatalf("advance 1ns: %v", err)
		}
		cur = businessNow(t, c, tn.ID)
		back := cur.Add(-time.Microsecond)
		_, err := c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: tn.ID, Now: &back})
		wantCode(t, err, phonefleet.EInvalid)
		if !strings.Contains(phonefleet.ErrorMessage(err), "now must not be in the past") {
			t.Fatalf("move back: %v, want a message about now", err)
		}
		if got := businessNow(t, c, tn.ID); !got.Equal(cur) {
			t.Fatalf("BusinessNow=%v after a refused move back, want %v", got, cur)
		}
		_, err = c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: "tnnosuch", Now: &target})
		wantCode(t, err, phonefleet.ENotFound)
	})

	// Each tenant has its own clock: moving one moves no other, and a
	// refund of one is unaffected by another's advance (the issue saw a
	// refund cut from 19.90 to 14.68 by another tenant's move).
	t.Run("PerTenant", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		a, b := mustCreateTenant(t, s, "acme"), mustCreateTenant(t, s, "beta")
		bought := mustPurchase(t, s, monthlyRequest(b.ID, 2))
		start := clk.Now()
		moveTo(t, c, b.ID, start.Add(4*24*time.Hour))
		if _, err := advance(t, c, a.ID, "240h"); err != nil {
			t.Fatal(err)
		}
		if got := businessNow(t, c, b.ID); !got.Equal(start.Add(4 * 24 * time.Hour)) {
			t.Fatalf("beta's business time=%v after acme's advance, want %v", got, start.Add(4*24*time.Hour))
		}
		if got := businessNow(t, c, a.ID); !got.Equal(start.Add(240 * time.Hour)) {
			t.Fatalf("acme's business time=%v, want %v", got, start.Add(240*time.Hour))
		}
		// Day 4 on beta's clock: all of it back, whatever acme's clock says.
		plan := mustUnsubscribe(t, s, b.ID, bought[0].ID)
		if it := plan.Items[0].Refund; it.Amount != it.Paid || it.Fee != 0 || !it.CreatedAt.Equal(start.Add(4*24*time.Hour)) {
			t.Fatalf("beta's refund on its day 4=%+v, want all of it back at its business time", it)
		}
		// A purchase of acme starts at acme's time, one of beta at beta's.
		if in := mustPurchase(t, s, monthlyRequest(a.ID, 1))[0]; !in.StartsAt.Equal(start.Add(240 * time.Hour)) {
			t.Fatalf("acme's purchase StartsAt=%v, want %v", in.StartsAt, start.Add(240*time.Hour))
		}
		if in := mustPurchase(t, s, monthlyRequest(b.ID, 1))[0]; !in.StartsAt.Equal(start.Add(4 * 24 * time.Hour)) {
			t.Fatalf("beta's purchase StartsAt=%v, want %v", in.StartsAt, start.Add(4*24*time.Hour))
		}
		// Every move is an audit event of its own tenant, old and new
		// time and who; other events of a tenant are at its time.
		var moves []string
		for _, e := range mustFindAudit(t, s) {
			want := start
			switch e.TenantID {
			case a.ID:
				want = start.Add(240 * time.Hour)
			case b.ID:
				want = start.Add(4 * 24 * time.Hour)
			}
			// Only beta's first purchase came before its move.
			first := e.TenantID == b.ID && e.Action == phonefleet.ActionInstanceCreate && e.At.Equal(start)
			if !e.At.Equal(want) && !first {
				t.Fatalf("audit event %+v at %v, want its tenant's business time %v", e, e.At, want)
			}
			if e.Action == phonefleet.AuditActionClockMove {
				moves = append(moves, e.TenantID+": "+e.Detail)
			}
		}
		wantMoves := []string{
			a.ID + ": test clock moved from " + start.Format(time.RFC3339Nano) + " to " + start.Add(240*time.Hour).Format(time.RFC3339Nano) + " (advance 240h0m0s) by user alice",
			b.ID + ": test clock moved from " + start.Format(time.RFC3339Nano) + " to " + start.Add(96*time.Hour).Format(time.RFC3339Nano) + " (now " + start.Add(96*time.Hour).Format(time.RFC3339Nano) + ") by token tk1",
		}
		if fmt.Sprint(moves) != fmt.Sprint(wantMoves) {
			t.Fatalf("clock moves audited:\n%s\nwant\n%s", strings.Join(moves, "\n"), strings.Join(wantMoves, "\n"))
		}
	})

	// Far times round-trip exactly: what a move answers is what the clock
	// shows and what a purchase then records, up to the end of year 9999.
	t.Run("FarFuture", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		tn := mustCreateTenant(t, s, "acme")
		for _, to := range []time.Time{
			time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2400, 1, 1, 0, 0, 0, 123456000, time.UTC),
			time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		} {
			if p := moveTo(t, c, tn.ID, to); !p.New.Equal(to) {
				t.Fatalf("MoveClock(now %v) answered %v", to, p.New)
			}
			if got := businessNow(t, c, tn.ID); !got.Equal(to) {
				t.Fatalf("BusinessNow=%v after a move to %v", got, to)
			}
			req := monthlyRequest(tn.ID, 1)
			if to.Year() == 9999 {
				req = payPerUseRequest(tn.ID, 1)
			}
			if in := mustPurchase(t, s, req)[0]; !in.StartsAt.Equal(to) || !mustFindInstance(t, s, tn.ID, in.ID).StartsAt.Equal(to) {
				t.Fatalf("purchase at business time %v: StartsAt=%v", to, in.StartsAt)
			}
		}
		// A monthly subscription would end after year 9999: refused.
		_, _, err := s.Purchase(t.Context(), monthlyRequest(tn.ID, 1))
		wantCode(t, err, phonefleet.EInvalid)
		// Past the end of year 9999 nothing moves, whichever field.
		end := businessNow(t, c, tn.ID)
		_, err = advance(t, c, tn.ID, "1ms")
		wantCode(t, err, phonefleet.EInvalid)
		if !strings.Contains(phonefleet.ErrorMessage(err), "advance") {
			t.Fatalf("advance past 9999: %v, want a message about advance", err)
		}
		// Real time goes on; business time stops at the end of year 9999.
		clk.Add(time.Hour)
		if got := businessNow(t, c, tn.ID); got.Before(end) || got.After(phonefleet.MaxBusinessTime) {
			t.Fatalf("BusinessNow=%v an hour later, want %v … %v", got, end, phonefleet.MaxBusinessTime)
		}
	})

	// Purchases, refunds and the audit trail run on business time; data-
	// plane commands on wall time.
	t.Run("BusinessTime", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		tn := mustCreateTenant(t, s, "acme")
		bought := mustPurchase(t, s, monthlyRequest(tn.ID, 2))

		// Day 4 of business time: a full refund; day 6: prorated with a fee.
		start := clk.Now()
		moveTo(t, c, tn.ID, start.Add(4*24*time.Hour))
		day4 := mustUnsubscribe(t, s, tn.ID, bought[0].ID)
		if it := day4.Items[0].Refund; it.Amount != it.Paid || it.Fee != 0 {
			t.Fatalf("refund on business day 4=%+v, want all of it back", it)
		}
		moveTo(t, c, tn.ID, start.Add(6*24*time.Hour))
		day6 := mustUnsubscribe(t, s, tn.ID, bought[1].ID)
		if it := day6.Items[0].Refund; it.Amount >= it.Paid || it.Consumed == 0 {
			t.Fatalf("refund on business day 6=%+v, want a prorated one", it)
		}
		for _, r := range mustFindRefunds(t, s) {
			if r.InstanceID == bought[1].ID && !r.CreatedAt.Equal(start.Add(6*24*time.Hour)) {
				t.Fatalf("refund created_at=%v, want business time %v", r.CreatedAt, start.Add(6*24*time.Hour))
			}
		}
		later := mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
		if !later.StartsAt.Equal(start.Add(6 * 24 * time.Hour)) {
			t.Fatalf("StartsAt=%v, want business time %v", later.StartsAt, start.Add(6*24*time.Hour))
		}
		if e := mustFindAudit(t, s)[0]; !e.At.Equal(start.Add(6 * 24 * time.Hour)) {
			t.Fatalf("audit At=%v, want business time", e.At)
		}
		// A failure's audit event, written without a time, gets its
		// tenant's business time.
		failed := &phonefleet.AuditEvent{TenantID: tn.ID, Action: phonefleet.ActionInstanceDelete, ErrorCode: phonefleet.EInvalid}
		if err := s.AuditFailure(t.Context(), failed, phonefleet.Errorf(phonefleet.EInvalid, "x")); err != nil || !failed.At.Equal(start.Add(6*24*time.Hour)) {
			t.Fatalf("failure audit at %v, %v; want business time %v", failed.At, err, start.Add(6*24*time.Hour))
		}

		// The release commands are due on wall time, so the worker claims
		// them at once, and their lease is on wall time too.
		job := mustFindJob(t, s, bought[1].ID)
		if !job.NextAttemptAt.Equal(clk.Now()) {
			t.Fatalf("release NextAttemptAt=%v, want wall time %v", job.NextAttemptAt, clk.Now())
		}
		if got := mustClaim(t, s, "w1", 10, time.Minute); len(got) != 2 {
			t.Fatalf("claimed %v, want both releases at once", got)
		}
	})

	// Unsubscribes of tenants with different clocks, run at once (the
	// stores run concurrent unsubscribes in shared transactions): each
	// refunds at its own tenant's business time, and its release is due
	// at wall time.
	t.Run("ConcurrentTenants", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		const n = 8
		var tenants []*phonefleet.Tenant
		var bought [][]*phonefleet.Instance
		for i := range 3 {
			tn := mustCreateTenant(t, s, fmt.Sprintf("t%d", i))
			tenants = append(tenants, tn)
			bought = append(bought, mustPurchase(t, s, monthlyRequest(tn.ID, n)))
		}
		start := clk.Now()
		at := map[string]time.Time{tenants[0].ID: start} // tenants[0] never moved
		for i, tn := range tenants[1:] {
			at[tn.ID] = start.Add(time.Duration(i+1) * 72 * time.Hour)
			moveTo(t, c, tn.ID, at[tn.ID])
		}
		var wg sync.WaitGroup
		errs := make(chan error, n*len(tenants))
		for i, tn := range tenants {
			for _, in := range bought[i] {
				wg.Go(func() {
					_, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, InstanceIDs: []string{in.ID}, RequestID: "r-" + in.ID})
					errs <- err
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		refunds := mustFindRefunds(t, s)
		if len(refunds) != n*len(tenants) {
			t.Fatalf("refunds=%d, want %d", len(refunds), n*len(tenants))
		}
		for _, r := range refunds {
			if !r.CreatedAt.Equal(at[r.TenantID]) {
				t.Fatalf("refund of %s (tenant %s) at %v, want its tenant's business time %v", r.InstanceID, r.TenantID, r.CreatedAt, at[r.TenantID])
			}
		}
		for i, tn := range tenants {
			for _, in := range bought[i] {
				if got := mustFindInstance(t, s, tn.ID, in.ID); !got.UpdatedAt.Equal(at[tn.ID]) {
					t.Fatalf("instance %s updated_at=%v, want its tenant's business time %v", in.ID, got.UpdatedAt, at[tn.ID])
				}
				if job := mustFindJob(t, s, in.ID); !job.NextAttemptAt.Equal(clk.Now()) {
					t.Fatalf("release of %s due %v, want wall time %v", in.ID, job.NextAttemptAt, clk.Now())
				}
			}
		}
		for _, e := range mustFindAudit(t, s) {
			if e.Action == phonefleet.ActionInstanceDelete && !e.At.Equal(at[e.TenantID]) {
				t.Fatalf("unsubscribe audited at %v, want its tenant's business time %v", e.At, at[e.TenantID])
			}
		}
	})
}
