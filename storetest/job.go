package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// jobSetup returns a store whose tenant "acme" has unsubscribed n instances
// at the clock's time: n pending jobs, all due now. ids are sorted.
func jobSetup(t *testing.T, open Opener, n int) (phonefleet.Store, *clock, *phonefleet.Tenant, []string) {
	t.Helper()
	s, clk := mustOpen(t, open)
	tn := mustCreateTenant(t, s, "acme")
	all := ids(mustPurchase(t, s, monthlyRequest(tn.ID, n)))
	mustUnsubscribe(t, s, tn.ID, all...)
	slices.Sort(all)
	return s, clk, tn, all
}

func mustClaim(t *testing.T, s phonefleet.Store, owner string, limit int, lease time.Duration) []string {
	t.Helper()
	jobs, err := s.ClaimCommands(t.Context(), owner, limit, lease)
	if err != nil {
		t.Fatalf("ClaimCommands(%s): %v", owner, err)
	}
	return jobIDs(jobs)
}

func jobIDs(jobs []*phonefleet.Command) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.InstanceID)
	}
	return out
}

func mustFail(t *testing.T, s phonefleet.Store, id, owner, msg string, next time.Time, final bool) {
	t.Helper()
	if err := s.FailCommand(t.Context(), jobOf(t, s, id), owner, msg, next, final); err != nil {
		t.Fatalf("FailCommand(%s, %s): %v", id, owner, err)
	}
}

func testReleaseJob(t *testing.T, open Opener) {
	t.Run("Claim", func(t *testing.T) {
		s, clk, tn, all := jobSetup(t, open, 3)
		jobs, err := s.ClaimCommands(t.Context(), "w1", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "claimed", jobIDs(jobs), all)
		for _, j := range jobs {
			if j.TenantID != tn.ID || j.TenantName != "acme" || j.EventID == "" || j.RequestID != "req-unsubscribe" ||
				j.State != phonefleet.JobStatePending || j.Attempts != 0 || !j.NextAttemptAt.Equal(clk.Now()) {
				t.Fatalf("claimed job=%s", fmtJob(j))
			}
		}
	})

	// A claim without an owner, jobs or a lease is refused and leases
	// nothing: the jobs stay claimable.
	t.Run("ClaimErrInvalid", func(t *testing.T) {
		s, _, _, all := jobSetup(t, open, 2)
		for _, tc := range []struct {
			owner string
			limit int
			lease time.Duration
		}{
			{"", 10, time.Minute},
			{"w1", 0, time.Minute},
			{"w1", -1, time.Minute},
			{"w1", 10, 0},
			{"w1", 10, -time.Minute},
		} {
			jobs, err := s.ClaimCommands(t.Context(), tc.owner, tc.limit, tc.lease)
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInvalid || len(jobs) != 0 {
				t.Fatalf("ClaimCommands(%q, %d, %s)=%d jobs, err %v; want %s and none", tc.owner, tc.limit, tc.lease, len(jobs), err, phonefleet.EInvalid)
			}
		}
		wantIDs(t, "claim after refused ones", mustClaim(t, s, "w2", 10, time.Minute), all)
	})

	t.Run("Lease", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 2)
		wantIDs(t, "w1 claim", mustClaim(t, s, "w1", 10, time.Minute), all)
		wantIDs(t, "w2 claim while leased", mustClaim(t, s, "w2", 10, time.Minute), []string{})
		clk.Add(time.Minute - time.Microsecond)
		wantIDs(t, "w2 claim just before expiry", mustClaim(t, s, "w2", 10, time.Minute), []string{})
		clk.Add(time.Microsecond)
		wantIDs(t, "w2 claim at expiry", mustClaim(t, s, "w2", 10, time.Minute), all)
	})

	t.Run("LimitAndOrder", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 4)
		wantIDs(t, "limit 3", mustClaim(t, s, "w1", 3, time.Minute), all[:3])
		wantIDs(t, "the rest", mustClaim(t, s, "w2", 3, time.Minute), all[3:])

		// Due times decide first, then IDs.
		now := clk.Now()
		mustFail(t, s, all[0], "w1", "later", now.Add(10*time.Minute), false)
		mustFail(t, s, all[1], "w1", "soon", now.Add(5*time.Minute), false)
		mustFail(t, s, all[2], "w1", "soon", now.Add(5*time.Minute), false)
		mustFail(t, s, all[3], "w2", "soonest", now.Add(time.Minute), false)
		clk.Add(10 * time.Minute)
		wantIDs(t, "by due time", mustClaim(t, s, "w3", 10, time.Minute), []string{all[3], all[1], all[2], all[0]})
	})

	t.Run("NotDue", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		mustFail(t, s, all[0], "w1", "refused", clk.Now().Add(time.Hour), false)
		clk.Add(time.Hour - time.Microsecond)
		wantIDs(t, "before next attempt", mustClaim(t, s, "w2", 1, time.Minute), []string{})
		clk.Add(time.Microsecond)
		wantIDs(t, "at next attempt", mustClaim(t, s, "w2", 1, time.Minute), all)
	})

	t.Run("SkipsDoneAndFailed", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 3)
		mustClaim(t, s, "w1", 3, time.Minute)
		if err := s.CompleteCommand(t.Context(), jobOf(t, s, all[0]), "w1"); err != nil {
			t.Fatal(err)
		}
		mustFail(t, s, all[1], "w1", "gone", clk.Now(), true)
		clk.Add(time.Hour)
		wantIDs(t, "claim", mustClaim(t, s, "w2", 10, time.Minute), all[2:])
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		const claimers, limit, n = 8, 3, 20
		s, _, _, all := jobSetup(t, open, n)
		got := make([][]*phonefleet.Command, claimers)
		errs := make([]error, claimers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Go(func() {
				<-start
				got[c], errs[c] = s.ClaimCommands(t.Context(), "w"+string(rune('a'+c)), limit, time.Minute)
			})
		}
		close(start)
		wg.Wait()

		seen := make(map[string]int)
		for c := range claimers {
			if errs[c] != nil {
				t.Fatalf("claimer %d: %v", c, errs[c])
			} else if len(got[c]) > limit {
				t.Fatalf("claimer %d got %d jobs, limit %d", c, len(got[c]), limit)
			}
			for _, j := range got[c] {
				if seen[j.InstanceID]++; seen[j.InstanceID] > 1 {
					t.Fatalf("job %s claimed twice", j.InstanceID)
				}
			}
		}
		// Whatever is left is still claimable, once.
		for _, id := range mustClaim(t, s, "last", n, time.Minute) {
			if seen[id]++; seen[id] > 1 {
				t.Fatalf("job %s claimed twice", id)
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("claimed %d distinct jobs, want %d", len(seen), len(all))
		}
	})

	t.Run("Complete", func(t *testing.T) {
		s, clk, tn, all := jobSetup(t, open, 2)
		mustClaim(t, s, "w1", 2, time.Minute)
		clk.Add(time.Second)
		doneAt := clk.Now()
		if err := s.CompleteCommand(t.Context(), jobOf(t, s, all[0]), "w1"); err != nil {
			t.Fatal(err)
		}
		j := mustFindJob(t, s, all[0])
		if j.State != phonefleet.JobStateDone || j.DoneAt == nil || !j.DoneAt.Equal(doneAt) {
			t.Fatalf("job=%s, want done at %v", fmtJob(j), doneAt)
		}
		if in := mustFindInstance(t, s, tn.ID, all[0]); in.State != phonefleet.InstanceStateReleased || !in.UpdatedAt.Equal(doneAt) {
			t.Fatalf("instance State, UpdatedAt=%s, %v, want released at %v", in.State, in.UpdatedAt, doneAt)
		}
		if in := mustFindInstance(t, s, tn.ID, all[1]); in.State != phonefleet.InstanceStateDeleting {
			t.Fatalf("other instance State=%s, want deleting", in.State)
		}

		// Completing again (a duplicate delivery) changes nothing.
		before := snapshot(t, s, tn.ID)
		clk.Add(time.Hour)
		if err := s.CompleteCommand(t.Context(), jobOf(t, s, all[0]), "w2"); err != nil {
			t.Fatalf("second CompleteCommand: %v", err)
		}
		wantSnapshot(t, s, before, tn.ID)
		wantIDs(t, "claim after done", mustClaim(t, s, "w3", 10, time.Minute), all[1:])
	})

	t.Run("CompleteErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		wantCode(t, s.CompleteCommand(t.Context(), "nosuchid", "w1"), phonefleet.ENotFound)
	})

	t.Run("Fail", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Hour)
		next := clk.Now().Add(30 * time.Second)
		mustFail(t, s, all[0], "w1", "connection refused", next, false)
		j := mustFindJob(t, s, all[0])
		if j.State != phonefleet.JobStatePending || j.Attempts != 1 || j.LastError != "connection refused" || !j.NextAttemptAt.Equal(next) {
			t.Fatalf("job=%s", fmtJob(j))
		}
		// The lease is gone: the job is claimable as soon as it is due,
		// well before the hour-long lease would have run out.
		clk.Add(30 * time.Second)
		wantIDs(t, "claim at next attempt", mustClaim(t, s, "w2", 1, time.Minute), all)
		mustFail(t, s, all[0], "w2", "timeout", clk.Now(), false)
		if j := mustFindJob(t, s, all[0]); j.Attempts != 2 || j.LastError != "timeout" {
			t.Fatalf("job=%s, want attempts 2", fmtJob(j))
		}
	})

	t.Run("FailWrongOwner", func(t *testing.T) {
		s, clk, tn, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		clk.Add(time.Minute)
		mustClaim(t, s, "w2", 1, time.Minute) // w1's lease ran out
		before := snapshot(t, s, tn.ID)
		mustFail(t, s, all[0], "w1", "late failure", clk.Now().Add(time.Hour), true)
		wantSnapshot(t, s, before, tn.ID)
		// w2 still holds the lease.
		wantIDs(t, "claim", mustClaim(t, s, "w3", 1, time.Minute), []string{})
	})

	// A worker whose lease ran out, and was taken over by another, reports
	// a failed attempt late, final or not: nothing changes, whatever the
	// jobs' states, and the worker that holds the lease now still owns the
	// delivery (nobody else can claim it; its own reports apply).
	t.Run("FailLostLease", func(t *testing.T) {
		for _, final := range []bool{false, true} {
			t.Run(fmt.Sprintf("final=%t", final), func(t *testing.T) {
				s, clk, tn, all := jobSetup(t, open, 2)
				wantIDs(t, "w1 claim", mustClaim(t, s, "w1", 2, time.Minute), all)
				clk.Add(time.Minute)
				wantIDs(t, "w2 claim after w1's lease ran out", mustClaim(t, s, "w2", 2, time.Minute), all)
				clk.Add(time.Second)
				before := snapshot(t, s, tn.ID)
				for _, id := range all {
					mustFail(t, s, id, "w1", "late failure", clk.Now().Add(time.Hour), final)
				}
				wantSnapshot(t, s, before, tn.ID)
				wantIDs(t, "w3 claim under w2's lease", mustClaim(t, s, "w3", 2, time.Minute), []string{})

				// w2's own reports apply, as if w1 had said nothing.
				deadline := clk.Now().Add(30 * time.Minute)
				if err := s.AcceptCommand(t.Context(), jobOf(t, s, all[0]), "w2", deadline); err != nil {
					t.Fatal(err)
				}
				if j := mustFindJob(t, s, all[0]); j.State != phonefleet.JobStateAccepted || j.Attempts != 1 ||
					!j.NextAttemptAt.Equal(deadline) || j.LastError != "" {
					t.Fatalf("job=%s, want accepted by w2 until %v, attempts 1, no error", fmtJob(j), deadline)
				}
				next := clk.Now().Add(2 * time.Minute)
				mustFail(t, s, all[1], "w2", "refused", next, final)
				want := phonefleet.JobStatePending
				if final {
					want = phonefleet.JobStateFailed
				}
				if j := mustFindJob(t, s, all[1]); j.State != want || j.Attempts != 1 || j.LastError != "refused" || !j.NextAttemptAt.Equal(next) {
					t.Fatalf("job=%s, want %s after w2's attempt 1", fmtJob(j), want)
				}
			})
		}
	})

	// A worker whose lease ran out, and was taken over, reports that the
	// data plane took its delivery: nothing changes; the new holder's
	// report applies.
	t.Run("AcceptLostLease", func(t *testing.T) {
		s, clk, tn, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		clk.Add(time.Minute)
		wantIDs(t, "w2 claim after w1's lease ran out", mustClaim(t, s, "w2", 1, time.Minute), all)
		before := snapshot(t, s, tn.ID)
		if err := s.AcceptCommand(t.Context(), jobOf(t, s, all[0]), "w1", clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		wantSnapshot(t, s, before, tn.ID)
		wantIDs(t, "w3 claim under w2's lease", mustClaim(t, s, "w3", 1, time.Minute), []string{})
		deadline := clk.Now().Add(30 * time.Minute)
		if err := s.AcceptCommand(t.Context(), jobOf(t, s, all[0]), "w2", deadline); err != nil {
			t.Fatal(err)
		}
		if j := mustFindJob(t, s, all[0]); j.State != phonefleet.JobStateAccepted || j.Attempts != 1 || !j.NextAttemptAt.Equal(deadline) {
			t.Fatalf("job=%s, want accepted by w2 until %v", fmtJob(j), deadline)
		}
	})

	t.Run("FailFinal", func(t *testing.T) {
		s, clk, tn, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		mustFail(t, s, all[0], "w1", "gave up", clk.Now().Add(time.Minute), true)
		j := mustFindJob(t, s, all[0])
		if j.State != phonefleet.JobStateFailed || j.Attempts != 1 || j.LastError != "gave up" {
			t.Fatalf("job=%s, want failed", fmtJob(j))
		}
		clk.Add(time.Hour)
		wantIDs(t, "claim", mustClaim(t, s, "w2", 1, time.Minute), []string{})

		// Failing a job that is no longer pending leaves it alone.
		before := snapshot(t, s, tn.ID)
		mustFail(t, s, all[0], "w1", "again", clk.Now(), false)
		wantSnapshot(t, s, before, tn.ID)
		if in := mustFindInstance(t, s, tn.ID, all[0]); in.State != phonefleet.InstanceStateDeleting {
			t.Fatalf("instance State=%s, want deleting", in.State)
		}
	})

	t.Run("Retry", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		mustFail(t, s, all[0], "w1", "gave up", clk.Now().Add(time.Hour*24), true)
		clk.Add(time.Minute)
		if err := s.RetryCommand(t.Context(), all[0]); err != nil {
			t.Fatal(err)
		}
		j := mustFindJob(t, s, all[0])
		if j.State != phonefleet.JobStatePending || j.Attempts != 0 || !j.NextAttemptAt.Equal(clk.Now()) {
			t.Fatalf("job=%s, want pending, attempts 0, due now", fmtJob(j))
		}
		wantIDs(t, "claim", mustClaim(t, s, "w2", 1, time.Minute), all)
	})

	// A pending job waiting for its next attempt is made due now.
	t.Run("RetryPendingDueNow", func(t *testing.T) {
		s, clk, _, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		mustFail(t, s, all[0], "w1", "try later", clk.Now().Add(time.Hour), false)
		if got := mustClaim(t, s, "w2", 1, time.Minute); len(got) != 0 {
			t.Fatalf("claimed %v before the next attempt", got)
		}
		if err := s.RetryCommand(t.Context(), all[0]); err != nil {
			t.Fatal(err)
		}
		j := mustFindJob(t, s, all[0])
		if j.State != phonefleet.JobStatePending || j.Attempts != 1 || !j.NextAttemptAt.Equal(clk.Now()) {
			t.Fatalf("job=%s, want pending, attempts 1, due now", fmtJob(j))
		}
		wantIDs(t, "claim", mustClaim(t, s, "w2", 1, time.Minute), all)
	})

	t.Run("RetryErrInvalid", func(t *testing.T) {
		s, _, _, all := jobSetup(t, open, 1)
		mustClaim(t, s, "w1", 1, time.Minute)
		if err := s.CompleteCommand(t.Context(), jobOf(t, s, all[0]), "w1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.RetryCommand(t.Context(), all[0]), phonefleet.EInvalid) // done
	})

	t.Run("RetryErrNotFound", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		wantCode(t, s.RetryCommand(t.Context(), "nosuchid"), phonefleet.ENotFound)
	})

	t.Run("Find", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		aIDs := ids(mustPurchase(t, s, monthlyRequest(a.ID, 3)))
		bIDs := ids(mustPurchase(t, s, monthlyRequest(b.ID, 1)))
		mustUnsubscribe(t, s, a.ID, aIDs...)
		clk.Add(time.Second)
		mustUnsubscribe(t, s, b.ID, bIDs...)
		slices.Sort(aIDs)
		mustClaim(t, s, "w1", 10, time.Minute)
		mustFail(t, s, aIDs[0], "w1", "gave up", clk.Now(), true)

		find := func(f phonefleet.CommandFilter) []string {
			t.Helper()
			js, err := s.FindCommands(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			return jobIDs(js)
		}
		wantIDs(t, "all", find(phonefleet.CommandFilter{}), append(slices.Clone(aIDs), bIDs...))
		wantIDs(t, "tenant b", find(phonefleet.CommandFilter{TenantID: &b.ID}), bIDs)
		wantIDs(t, "failed", find(phonefleet.CommandFilter{State: ptr(phonefleet.JobStateFailed)}), aIDs[:1])
		wantIDs(t, "pending of a", find(phonefleet.CommandFilter{State: ptr(phonefleet.JobStatePending), TenantID: &a.ID}), aIDs[1:])
		wantIDs(t, "limit", find(phonefleet.CommandFilter{Limit: 2}), aIDs[:2])
	})
}
