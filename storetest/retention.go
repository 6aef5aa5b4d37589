package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// retentionService returns the store's RetentionService.
func retentionService(t *testing.T, s phonefleet.Store) phonefleet.RetentionService {
	t.Helper()
	r, ok := s.(phonefleet.RetentionService)
	if !ok {
		t.Fatalf("%T does not implement phonefleet.RetentionService", s)
	}
	return r
}

func testRetention(t *testing.T, open Opener) {
	t.Run("AuditEvents", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		r := retentionService(t, s)
		tn := mustCreateTenant(t, s, "acme")
		t0 := clk.Now()
		for i, at := range []time.Time{t0.Add(-3 * time.Hour), t0.Add(-2 * time.Hour), t0.Add(-time.Hour), t0} {
			if err := s.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{
				At: at, TenantID: tn.ID, Action: phonefleet.ActionInstanceDelete, RequestID: string(rune('a' + i)), ErrorCode: phonefleet.ECodeOK,
			}); err != nil {
				t.Fatal(err)
			}
		}
		before := t0.Add(-90 * time.Minute)
		es, err := r.FindExpiredAuditEvents(t.Context(), before, 10)
		if err != nil {
			t.Fatal(err)
		} else if len(es) != 2 || es[0].RequestID != "a" || es[1].RequestID != "b" || es[0].TenantName != "acme" {
			t.Fatalf("expired=%v, want a and b, oldest first, with the tenant's name", es)
		}
		if es, err := r.FindExpiredAuditEvents(t.Context(), before, 1); err != nil || len(es) != 1 || es[0].RequestID != "a" {
			t.Fatalf("expired with limit 1=%v, %v, want a", es, err)
		}
		// Every ID is offered; only those older than before go.
		all := mustFindAudit(t, s)
		var ids []int64
		for _, e := range all {
			ids = append(ids, e.ID)
		}
		if n, err := r.DeleteAuditEvents(t.Context(), before, ids); err != nil || n != 2 {
			t.Fatalf("DeleteAuditEvents=%d, %v, want 2", n, err)
		}
		left := mustFindAudit(t, s)
		if len(left) != 2 || left[0].RequestID != "d" || left[1].RequestID != "c" {
			t.Fatalf("left=%v, want d and c", left)
		}
		if es, err := r.FindExpiredAuditEvents(t.Context(), before, 10); err != nil || len(es) != 0 {
			t.Fatalf("expired after the delete=%v, %v, want none", es, err)
		}
		if n, err := r.DeleteAuditEvents(t.Context(), before, nil); err != nil || n != 0 {
			t.Fatalf("DeleteAuditEvents(none)=%d, %v", n, err)
		}
	})

	t.Run("Commands", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		r := retentionService(t, s)
		tn := mustCreateTenant(t, s, "acme")
		in := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 5)))
		// in[0]: a reboot done. in[1]: a reboot failed, instance running
		// (retryable). in[2]: a release failed, instance deleting
		// (retryable). in[3]: a release done, instance released. in[4]: a
		// reboot canceled by the unsubscribe, its release pending.
		reboot := mustStart(t, s, tn.ID, phonefleet.CommandReboot, in[0], in[1], in[4])
		job := map[string]string{}
		for _, c := range reboot.Commands {
			job[c.InstanceID] = c.ID
		}
		mustUnsubscribe(t, s, tn.ID, in[2], in[3], in[4])
		for _, c := range mustFindJobs(t, s) {
			if c.Type == phonefleet.CommandRelease {
				job["release-"+c.InstanceID] = c.ID
			}
		}
		claimed, err := s.ClaimCommands(t.Context(), "w", 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range claimed {
			switch c.ID {
			case job[in[0]], job["release-"+in[3]]:
				err = s.CompleteCommand(t.Context(), c.ID, "w")
			case job[in[1]], job["release-"+in[2]]:
				err = s.FailCommand(t.Context(), c.ID, "w", "boom", clk.Now(), true)
			default:
				err = s.FailCommand(t.Context(), c.ID, "w", "later", clk.Now().Add(time.Hour), false)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(2 * time.Hour)
		// A reboot of in[0] that finishes now, after the cut-off.
		late := mustStart(t, s, tn.ID, phonefleet.CommandReboot, in[0]).Commands[0].ID
		if cs, err := s.ClaimCommands(t.Context(), "w", 100, time.Minute); err != nil {
			t.Fatal(err)
		} else {
			for _, c := range cs {
				if c.ID == late {
					if err := s.CompleteCommand(t.Context(), c.ID, "w"); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		before := clk.Now().Add(-time.Hour)

		// Page through with a small limit.
		var found []string
		var after *phonefleet.Command
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("FindExpiredCommands does not end")
			}
			expired, next, err := r.FindExpiredCommands(t.Context(), before, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range expired {
				found = append(found, c.ID)
			}
			if next == nil {
				break
			}
			after = next
		}
		want := []string{job[in[0]], job["release-"+in[3]], job[in[4]]}
		slices.Sort(found)
		slices.Sort(want)
		if !slices.Equal(found, want) {
			t.Fatalf("expired=%v, want %v (done reboot, done release, canceled reboot)", found, want)
		}

		// Offered every job, DeleteCommands removes only those; a retry
		// before it keeps that job.
		var every []string
		for _, c := range mustFindJobs(t, s) {
			every = append(every, c.ID)
		}
		n, err := r.DeleteCommands(t.Context(), before, every)
		if err != nil || n != 3 {
			t.Fatalf("DeleteCommands=%d, %v, want 3", n, err)
		}
		var left []string
		for _, c := range mustFindJobs(t, s) {
			left = append(left, c.ID)
		}
		wantLeft := []string{job[in[1]], job["release-"+in[2]], job["release-"+in[4]], late}
		slices.Sort(left)
		slices.Sort(wantLeft)
		if !slices.Equal(left, wantLeft) {
			t.Fatalf("left=%v, want %v", left, wantLeft)
		}
		// What stays still works: the failed release is retried.
		if err := s.RetryCommand(t.Context(), job["release-"+in[2]]); err != nil {
			t.Fatalf("retry of the kept failed release: %v", err)
		}
		checkCommandInvariants(t, s, tn.ID, false)
	})

	t.Run("CommandRetriedBeforeDelete", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		r := retentionService(t, s)
		tn := mustCreateTenant(t, s, "acme")
		in := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 1)))
		mustUnsubscribe(t, s, tn.ID, in[0])
		c := mustFindJob(t, s, in[0])
		if _, err := s.ClaimCommands(t.Context(), "w", 1, time.Minute); err != nil {
			t.Fatal(err)
		} else if err := s.FailCommand(t.Context(), c.ID, "w", "boom", clk.Now(), true); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour)
		// The failed release of a deleting instance stays; once retried
		// it is pending and stays too.
		if n, err := r.DeleteCommands(t.Context(), clk.Now(), []string{c.ID}); err != nil || n != 0 {
			t.Fatalf("DeleteCommands(failed release of a deleting instance)=%d, %v, want 0", n, err)
		}
		if err := s.RetryCommand(t.Context(), c.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := r.DeleteCommands(t.Context(), clk.Now(), []string{c.ID}); err != nil || n != 0 {
			t.Fatalf("DeleteCommands(pending)=%d, %v, want 0", n, err)
		}
		if got := mustFindJob(t, s, in[0]); got.State != phonefleet.JobStatePending {
			t.Fatalf("job=%s, want pending", got.State)
		}
	})
}
