package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testPeriods are short lifecycle periods, so a walk needs small moves.
var testPeriods = phonefleet.LifecyclePeriods{Grace: 48 * time.Hour, Retention: 72 * time.Hour}

// mustSweep runs one sweep and returns the IDs it moved, with their labels
// ("id:expired").
func mustSweep(t *testing.T, s phonefleet.Store, limit int) []string {
	t.Helper()
	done, err := s.SweepLifecycle(t.Context(), testPeriods, limit)
	if err != nil {
		t.Fatalf("SweepLifecycle: %v", err)
	}
	out := []string{}
	for _, tr := range done {
		out = append(out, tr.InstanceID+":"+tr.Label())
	}
	return out
}

// sweepLabels returns id:label for each id, in order.
func sweepLabels(label string, ids ...string) []string {
	out := []string{}
	for _, id := range ids {
		out = append(out, id+":"+label)
	}
	return out
}

// commandsOf returns the types and states of the instance's commands, in
// creation order ("reboot/canceled").
func commandsOf(t *testing.T, s phonefleet.Store, instanceID string) []string {
	t.Helper()
	cs, err := s.FindCommands(t.Context(), phonefleet.CommandFilter{InstanceID: &instanceID})
	if err != nil {
		t.Fatalf("FindCommands: %v", err)
	}
	out := []string{}
	for _, c := range cs {
		out = append(out, string(c.Type)+"/"+string(c.State))
	}
	return out
}

func testLifecycle(t *testing.T, open Opener) {
	t.Run("Walk", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		a, b := ins[0].ID, ins[1].ID
		mustAssign(t, s, tn.ID, "alice", a)
		expires := *ins[0].ExpiresAt

		// Not a nanosecond early (the stores keep microseconds).
		clk.Set(expires.Add(-time.Microsecond))
		wantIDs(t, "sweep before expiry", mustSweep(t, s, 100), []string{})

		clk.Set(expires)
		got := mustSweep(t, s, 100)
		slices.Sort(got)
		wantIDs(t, "sweep at expiry", got, sweepLabels("expired", a, b))
		wantIDs(t, "sweep again", mustSweep(t, s, 100), []string{})
		if st := mustStatus(t, s, tn.ID, a); st.State != phonefleet.InstanceStateExpired || st.RunningStatus() != phonefleet.StatusRunning || st.AssignUser != "alice" {
			t.Fatalf("status at expiry=%+v, want expired, running, alice", st)
		}
		if e := lastAudit(t, s); e.Actor != phonefleet.ActorSystem || e.Action != phonefleet.ActionLifecycleExpire || e.TenantID != tn.ID {
			t.Fatalf("audit=%+v, want lifecycleExpire by system", e)
		}
		// Expired phones keep working: a reboot starts.
		mustStart(t, s, tn.ID, phonefleet.CommandReboot, b)
		// The state filter finds them.
		expired := phonefleet.InstanceStateExpired
		if list, n, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn.ID, State: &expired}); err != nil || n != 2 || len(list) != 2 {
			t.Fatalf("FindInstances(state expired)=%d, %d, %v; want 2", len(list), n, err)
		}
		// The operators' counts by state see them as expired too.
		if counts, err := s.CountInstancesByState(t.Context()); err != nil || counts[tn.ID][expired] != 2 || counts[tn.ID][phonefleet.InstanceStateRunning] != 0 {
			t.Fatalf("CountInstancesByState=%v, %v; want 2 expired, none running", counts, err)
		}
		running := phonefleet.InstanceStateRunning
		if _, n, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn.ID, State: &running}); err != nil || n != 0 {
			t.Fatalf("FindInstances(state running)=%d, %v; want 0", n, err)
		}

		clk.Set(expires.Add(testPeriods.Grace - time.Microsecond))
		wantIDs(t, "sweep before the grace period ends", mustSweep(t, s, 100), []string{})
		clk.Set(expires.Add(testPeriods.Grace))
		got = mustSweep(t, s, 100)
		slices.Sort(got)
		wantIDs(t, "sweep at the end of grace", got, sweepLabels("frozen", a, b))
		wantIDs(t, "sweep again", mustSweep(t, s, 100), []string{})
		st := mustStatus(t, s, tn.ID, a)
		if st.State != phonefleet.InstanceStateFrozen || st.FrozenStatus() != 1 || st.RunningStatus() != phonefleet.StatusStopped || st.Command != phonefleet.CommandFreeze {
			t.Fatalf("status after grace=%+v, want frozen, stopped, freeze in flight", st)
		}
		// The freeze replaced the reboot in flight.
		wantIDs(t, "commands of b", commandsOf(t, s, b), []string{"reboot/canceled", "freeze/pending"})
		_, err := s.StartCommands(t.Context(), &phonefleet.CommandRequest{TenantID: tn.ID, TokenID: "tk", RequestID: "r", Type: phonefleet.CommandReset, InstanceIDs: []string{a}})
		wantCode(t, err, phonefleet.EFrozen)
		// The freeze is delivered like any command; its confirmation leaves
		// the instance frozen.
		mustCompleteAll(t, s)
		for _, id := range []string{a, b} {
			if st := mustStatus(t, s, tn.ID, id); st.State != phonefleet.InstanceStateFrozen || st.Command != "" {
				t.Fatalf("status after freeze confirmed=%+v, want frozen and idle", st)
			}
		}

		clk.Set(expires.Add(testPeriods.Grace + testPeriods.Retention))
		got = mustSweep(t, s, 100)
		slices.Sort(got)
		wantIDs(t, "sweep at the end of retention", got, sweepLabels("released", a, b))
		wantIDs(t, "sweep again", mustSweep(t, s, 100), []string{})
		in := mustFindInstance(t, s, tn.ID, a)
		if in.State != phonefleet.InstanceStateDeleting || in.Command != phonefleet.CommandRelease || in.AssignUser != "" {
			t.Fatalf("instance after retention=%s/%s/%q, want deleting, release in flight, unassigned", in.State, in.Command, in.AssignUser)
		}
		if rs := mustFindRefunds(t, s); len(rs) != 0 {
			t.Fatalf("refunds=%d, want none for a release at the end of retention", len(rs))
		}
		mustCompleteAll(t, s)
		if in := mustFindInstance(t, s, tn.ID, a); in.State != phonefleet.InstanceStateReleased {
			t.Fatalf("state=%s after the release is confirmed, want released", in.State)
		}
		if tn2, err := s.FindTenantByName(t.Context(), "acme"); err != nil || tn2.HeldInstances != 0 {
			t.Fatalf("held=%v, %v; want 0", tn2, err)
		}
		wantIDs(t, "commands of a", commandsOf(t, s, a), []string{"freeze/done", "release/done"})

		// Three steps of a, three audit events by system, oldest first.
		var actions []string
		for _, e := range mustFindAudit(t, s) {
			if e.Actor == phonefleet.ActorSystem && lifecycleAction(e.Action) && e.InstanceIDs[0] == a {
				actions = append([]string{e.Action}, actions...)
			}
		}
		wantIDs(t, "audit of a", actions, []string{phonefleet.ActionLifecycleExpire, phonefleet.ActionLifecycleFreeze, phonefleet.ActionLifecycleRelease})
	})

	t.Run("LateStepsInOrder", func(t *testing.T) {
		// A sweep that runs long after retention takes every step, in order.
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		a := mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
		clk.Set(a.ExpiresAt.Add(1000 * time.Hour))
		wantIDs(t, "steps", mustSweep(t, s, 100), []string{a.ID + ":expired", a.ID + ":frozen", a.ID + ":released"})
		wantIDs(t, "sweep again", mustSweep(t, s, 100), []string{})
		cmds := commandsOf(t, s, a.ID) // written in one go: their order is not defined
		slices.Sort(cmds)
		wantIDs(t, "commands", cmds, []string{"freeze/canceled", "release/pending"})
		var actions []string
		for _, e := range mustFindAudit(t, s) {
			if e.Actor == phonefleet.ActorSystem && lifecycleAction(e.Action) {
				actions = append([]string{e.Action}, actions...)
			}
		}
		wantIDs(t, "audit", actions, []string{phonefleet.ActionLifecycleExpire, phonefleet.ActionLifecycleFreeze, phonefleet.ActionLifecycleRelease})
	})

	t.Run("UnsubscribeLapsed", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 2))
		clk.Set(ins[0].ExpiresAt.Add(time.Hour))
		mustSweep(t, s, 100)
		clk.Set(ins[0].ExpiresAt.Add(testPeriods.Grace + time.Hour))
		// Both are frozen now, with their freeze in flight.
		mustSweep(t, s, 100)
		plan := mustUnsubscribe(t, s, tn.ID, ins[0].ID)
		if r := plan.Items[0].Refund; r.Amount != 0 || r.Fee != 0 || r.Consumed != r.Paid || plan.TotalRefund != 0 {
			t.Fatalf("refund of a frozen instance=%+v, want everything consumed, fee 0, amount 0", r)
		}
		if in := mustFindInstance(t, s, tn.ID, ins[0].ID); in.State != phonefleet.InstanceStateDeleting || in.Command != phonefleet.CommandRelease {
			t.Fatalf("unsubscribed frozen instance=%s/%s, want deleting with its release", in.State, in.Command)
		}
		wantIDs(t, "commands", commandsOf(t, s, ins[0].ID), []string{"freeze/canceled", "release/pending"})
		// The sweep leaves it alone from now on.
		clk.Set(ins[0].ExpiresAt.Add(testPeriods.Grace + testPeriods.Retention + time.Hour))
		wantIDs(t, "sweep after retention", mustSweep(t, s, 100), []string{ins[1].ID + ":released"})
	})

	t.Run("UnsubscribeExpired", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		in := mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
		clk.Set(in.ExpiresAt.Add(time.Hour))
		mustSweep(t, s, 100)
		plan := mustUnsubscribe(t, s, tn.ID, in.ID)
		if r := plan.Items[0].Refund; r.Amount != 0 || r.Fee != 0 || r.Consumed != r.Paid {
			t.Fatalf("refund of an expired instance=%+v, want fee 0, amount 0", r)
		}
		if rs := mustFindRefunds(t, s); len(rs) != 1 || rs[0].Amount != 0 || rs[0].Fee != 0 {
			t.Fatalf("refund rows=%v, want one of 0 with fee 0", rs)
		}
	})

	t.Run("PayPerUse", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		mustPurchase(t, s, payPerUseRequest(tn.ID, 1))
		clk.Add(10 * 365 * 24 * time.Hour)
		wantIDs(t, "sweep of pay-per-use", mustSweep(t, s, 100), []string{})
	})

	t.Run("Limit", func(t *testing.T) {
		// Due instances go in expiry order, limit at a time.
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		var want []string
		var last *phonefleet.Instance
		for range 5 {
			last = mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
			want = append(want, last.ID+":expired")
			clk.Add(time.Minute)
		}
		clk.Set(*last.ExpiresAt)
		var got []string
		for _, n := range []int{2, 2, 1, 0} {
			step := mustSweep(t, s, 2)
			if len(step) != n {
				t.Fatalf("sweep of limit 2 moved %v, want %d", step, n)
			}
			got = append(got, step...)
		}
		wantIDs(t, "expiry order", got, want)
		_, err := s.SweepLifecycle(t.Context(), testPeriods, 0)
		wantCode(t, err, phonefleet.EInvalid)
	})

	t.Run("TenantPeriods", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		short := mustCreateTenant(t, s, "short")
		long := mustCreateTenant(t, s, "long")
		hour := time.Hour
		tn, err := s.UpdateTenantPeriods(t.Context(), "short", phonefleet.TenantPeriodsUpdate{Grace: &hour, Retention: &hour})
		if err != nil || tn.GracePeriod == nil || time.Duration(*tn.GracePeriod) != hour || time.Duration(*tn.RetentionPeriod) != hour {
			t.Fatalf("UpdateTenantPeriods=%+v, %v", tn, err)
		}
		if found, _ := s.FindTenantByName(t.Context(), "short"); found.GracePeriod == nil || time.Duration(*found.GracePeriod) != hour {
			t.Fatalf("FindTenantByName: grace %v, want 1h", found.GracePeriod)
		}
		// A nil field is left alone.
		two := 2 * time.Hour
		if tn, err := s.UpdateTenantPeriods(t.Context(), "short", phonefleet.TenantPeriodsUpdate{Retention: &two}); err != nil ||
			time.Duration(*tn.GracePeriod) != hour || time.Duration(*tn.RetentionPeriod) != two {
			t.Fatalf("UpdateTenantPeriods(retention only)=%+v, %v", tn, err)
		}
		_, err = s.UpdateTenantPeriods(t.Context(), "nobody", phonefleet.TenantPeriodsUpdate{Grace: &hour})
		wantCode(t, err, phonefleet.ENotFound)
		neg := -time.Hour
		_, err = s.UpdateTenantPeriods(t.Context(), "short", phonefleet.TenantPeriodsUpdate{Grace: &neg})
		wantCode(t, err, phonefleet.EInvalid)

		a := mustPurchase(t, s, monthlyRequest(short.ID, 1))[0]
		b := mustPurchase(t, s, monthlyRequest(long.ID, 1))[0]
		clk.Set(a.ExpiresAt.Add(30 * time.Minute))
		got := mustSweep(t, s, 100)
		slices.Sort(got)
		want := []string{a.ID + ":expired", b.ID + ":expired"}
		slices.Sort(want)
		wantIDs(t, "expiries", got, want)
		// An hour after the expiry only the tenant with one hour of grace
		// freezes.
		clk.Add(30 * time.Minute)
		wantIDs(t, "freezes", mustSweep(t, s, 100), []string{a.ID + ":frozen"})
		clk.Add(2 * time.Hour)
		wantIDs(t, "releases", mustSweep(t, s, 100), []string{a.ID + ":released"})
	})

	t.Run("RacingUnsubscribe", func(t *testing.T) {
		// A sweep releasing frozen instances races unsubscribes of the same
		// instances: each ends with one release, and either a refund of 0
		// (the unsubscribe won) or a lifecycle release (the sweep won).
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := mustPurchase(t, s, monthlyRequest(tn.ID, 20))
		clk.Set(ins[0].ExpiresAt.Add(time.Hour))
		mustSweep(t, s, 100)
		clk.Set(ins[0].ExpiresAt.Add(testPeriods.Grace + time.Hour))
		mustSweep(t, s, 100)
		clk.Set(ins[0].ExpiresAt.Add(testPeriods.Grace + testPeriods.Retention + time.Hour))

		var wg sync.WaitGroup
		var mu sync.Mutex
		swept := map[string]int{}
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					done, err := s.SweepLifecycle(t.Context(), testPeriods, 3)
					if err != nil {
						t.Errorf("SweepLifecycle: %v", err)
						return
					}
					mu.Lock()
					for _, tr := range done {
						swept[tr.InstanceID]++
					}
					mu.Unlock()
				}
			}()
		}
		unsubscribed := map[string]bool{}
		for i, in := range ins {
			if i%2 == 1 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				plan, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, TokenID: "tk", RequestID: "req-race", InstanceIDs: []string{in.ID}})
				if err != nil {
					t.Errorf("Unsubscribe: %v", err)
					return
				}
				mu.Lock()
				unsubscribed[in.ID] = !plan.Items[0].Noop
				mu.Unlock()
			}()
		}
		wg.Wait()
		for {
			if done := mustSweep(t, s, 100); len(done) == 0 {
				break
			} else {
				for _, d := range done {
					swept[d[:len(d)-len(":released")]]++
				}
			}
		}
		refunds := map[string]bool{}
		for _, r := range mustFindRefunds(t, s) {
			refunds[r.InstanceID] = true
			if r.Amount != 0 || r.Fee != 0 {
				t.Fatalf("refund %+v, want 0 with fee 0", r)
			}
		}
		for _, in := range ins {
			n, unsub := swept[in.ID], unsubscribed[in.ID]
			if (n == 1) == unsub || n > 1 || refunds[in.ID] != unsub {
				t.Fatalf("instance %s: swept %d times, unsubscribed %v, refund %v; want exactly one outcome", in.ID, n, unsub, refunds[in.ID])
			}
			if got := mustFindInstance(t, s, tn.ID, in.ID); got.State != phonefleet.InstanceStateDeleting || got.Command != phonefleet.CommandRelease {
				t.Fatalf("instance %s is %s/%s, want deleting with its release", in.ID, got.State, got.Command)
			}
		}
	})
}

// mustCompleteAll claims every due command and completes it, as the worker
// does with the noop driver.
func mustCompleteAll(t *testing.T, s phonefleet.Store) {
	t.Helper()
	jobs, err := s.ClaimCommands(t.Context(), "test-completer", 1000, time.Minute)
	if err != nil {
		t.Fatalf("ClaimCommands: %v", err)
	}
	for _, j := range jobs {
		if err := s.CompleteCommand(t.Context(), j.ID, "test-completer"); err != nil {
			t.Fatalf("CompleteCommand(%s): %v", j.ID, err)
		}
	}
}

// testLifecycleClocks checks that each tenant's lifecycle follows its own
// business time; stores open with the test clock on.
func testLifecycleClocks(t *testing.T, open Opener) {
	s, _ := mustOpen(t, open)
	c := s.(phonefleet.ClockService)
	ahead := mustCreateTenant(t, s, "ahead")
	behind := mustCreateTenant(t, s, "behind")
	a := mustPurchase(t, s, monthlyRequest(ahead.ID, 1))[0]
	b := mustPurchase(t, s, monthlyRequest(behind.ID, 1))[0]
	span := phonefleet.ClockSpanBetween(time.Time{}, time.Time{}.Add(40*24*time.Hour))
	if _, err := c.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: ahead.ID, Advance: &span, TokenID: "tk", RequestID: "r"}); err != nil {
		t.Fatalf("MoveClock: %v", err)
	}
	// 40 days ahead is past the expiry, the grace and the retention.
	wantIDs(t, "sweep", mustSweep(t, s, 100), []string{a.ID + ":expired", a.ID + ":frozen", a.ID + ":released"})
	if in := mustFindInstance(t, s, behind.ID, b.ID); in.State != phonefleet.InstanceStateRunning {
		t.Fatalf("other tenant's instance is %s, want running", in.State)
	}
	// The event is at the tenant's business time.
	if e := lastAudit(t, s); e.At.Before(*a.ExpiresAt) {
		t.Fatalf("audit at %s, before the expiry %s: not the tenant's business time", e.At, a.ExpiresAt)
	}
}

// lifecycleAction says whether action is one of the lifecycle sweep's (the
// suite's other calls have no caller, so their actor is system too).
func lifecycleAction(action string) bool {
	return action == phonefleet.ActionLifecycleExpire || action == phonefleet.ActionLifecycleFreeze || action == phonefleet.ActionLifecycleRelease
}
