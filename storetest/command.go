package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// mustAssign binds each instance to user.
func mustAssign(t *testing.T, s phonefleet.Store, tenantID, user string, ids ...string) *phonefleet.AssignPlan {
	t.Helper()
	plan, err := s.Assign(t.Context(), assignRequest(tenantID, user, ids...))
	if err != nil {
		t.Fatalf("Assign(%s, %v): %v", user, ids, err)
	}
	return plan
}

// mustUnassign removes the bindings of user to ids.
func mustUnassign(t *testing.T, s phonefleet.Store, tenantID, user string, ids ...string) *phonefleet.CommandPlan {
	t.Helper()
	plan, err := s.Unassign(t.Context(), assignRequest(tenantID, user, ids...))
	if err != nil {
		t.Fatalf("Unassign(%s, %v): %v", user, ids, err)
	}
	return plan
}

// mustStart starts a reboot or reset of ids.
func mustStart(t *testing.T, s phonefleet.Store, tenantID string, typ phonefleet.CommandType, ids ...string) *phonefleet.CommandPlan {
	t.Helper()
	plan, err := s.StartCommands(t.Context(), &phonefleet.CommandRequest{
		TenantID: tenantID, TokenID: "tk-test", RequestID: "req-" + string(typ), Type: typ, InstanceIDs: ids})
	if err != nil {
		t.Fatalf("StartCommands(%s, %v): %v", typ, ids, err)
	}
	return plan
}

func assignRequest(tenantID, user string, ids ...string) *phonefleet.AssignRequest {
	req := &phonefleet.AssignRequest{TenantID: tenantID, TokenID: "tk-test", RequestID: "req-assign"}
	for _, id := range ids {
		req.Pairs = append(req.Pairs, phonefleet.UserInstance{UserID: user, InstanceID: id})
	}
	return req
}

// mustStatus returns the instance's status as the status queries see it.
func mustStatus(t *testing.T, s phonefleet.Store, tenantID, id string) phonefleet.InstanceStatus {
	t.Helper()
	st, err := s.FindInstanceStatuses(t.Context(), tenantID, []string{id})
	if err != nil {
		t.Fatalf("FindInstanceStatuses: %v", err)
	}
	return st[id]
}

// mustJob returns the command with that job ID.
func mustJob(t *testing.T, s phonefleet.Store, jobID string) *phonefleet.Command {
	t.Helper()
	for _, c := range mustFindJobs(t, s) {
		if c.ID == jobID {
			return c
		}
	}
	t.Fatalf("no job %s", jobID)
	return nil
}

// lastAudit returns the newest audit event.
func lastAudit(t *testing.T, s phonefleet.Store) *phonefleet.AuditEvent {
	t.Helper()
	es := mustFindAudit(t, s)
	if len(es) == 0 {
		t.Fatal("no audit event")
	}
	return es[0]
}

func testAssign(t *testing.T, open Opener) {
	t.Run("OK", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 3)))
		plan := mustAssign(t, s, tn.ID, "alice@x.io", ins[0], ins[1])
		if len(plan.Changes()) != 2 {
			t.Fatalf("changes=%v, want 2", plan.Changes())
		}
		for i, id := range ins {
			want := map[int]string{0: "alice@x.io", 1: "alice@x.io"}[i]
			if in := mustFindInstance(t, s, tn.ID, id); in.AssignUser != want {
				t.Fatalf("instance %s AssignUser=%q, want %q", id, in.AssignUser, want)
			}
		}
		if e := lastAudit(t, s); e.Action != phonefleet.ActionInstanceAssign || e.ErrorCode != "0" || e.RequestID != "req-assign" ||
			!slices.Equal(e.InstanceIDs, ins[:2]) {
			t.Fatalf("audit=%+v", e)
		}
		// The assign_user filter.
		user := "alice@x.io"
		got, total, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn.ID, AssignUser: &user, Limit: allInstances})
		if err != nil || total != 2 || len(got) != 2 {
			t.Fatalf("FindInstances(assign_user)=%d, %d, %v; want 2", len(got), total, err)
		}

		// The same pairs again are no-ops; nothing changes but the audit.
		before := snapshot(t, s, tn.ID)
		if plan := mustAssign(t, s, tn.ID, "alice@x.io", ins[1], ins[0]); len(plan.Changes()) != 0 {
			t.Fatalf("changes=%v, want none", plan.Changes())
		}
		wantSnapshot(t, s, before, tn.ID)
	})

	t.Run("Errors", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn, other := mustCreateTenant(t, s, "acme"), mustCreateTenant(t, s, "globex")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 4)))
		theirs := ids(mustPurchase(t, s, monthlyRequest(other.ID, 1)))
		mustAssign(t, s, tn.ID, "alice", ins[0])
		mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[1])
		mustUnsubscribe(t, s, tn.ID, ins[2])
		before := snapshot(t, s, tn.ID, other.ID)
		audits := len(mustFindAudit(t, s))

		for _, tc := range []struct {
			req       *phonefleet.AssignRequest
			code, msg string
		}{
			{assignRequest(tn.ID, "bob", ins[3], theirs[0], "nosuchid"), phonefleet.EForbidden, "no permission on instances: " + theirs[0] + ", nosuchid"},
			{assignRequest(tn.ID, "bob", ins[3], ins[0], ins[1], ins[2]), phonefleet.ECannotAssign,
				"instances cannot be assigned (not running, busy, or assigned to another user): " + ins[0] + ", " + ins[1] + ", " + ins[2]},
		} {
			_, err := s.Assign(t.Context(), tc.req)
			if phonefleet.ErrorCode(err) != tc.code || phonefleet.ErrorMessage(err) != tc.msg {
				t.Fatalf("Assign=%v, want %s %q", err, tc.code, tc.msg)
			}
			wantSnapshot(t, s, before, tn.ID, other.ID)
			// A failure writes nothing, no audit event either: the HTTP
			// layer audits it.
			if n := len(mustFindAudit(t, s)); n != audits {
				t.Fatalf("audit events=%d after a failed Assign, want %d", n, audits)
			}
		}
	})
}

func testCommand(t *testing.T, open Opener) {
	t.Run("Unassign", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 2)))
		mustAssign(t, s, tn.ID, "alice", ins...)

		// No such binding: 2210 naming the pairs, nothing changes.
		before := snapshot(t, s, tn.ID)
		_, err := s.Unassign(t.Context(), assignRequest(tn.ID, "bob", ins...))
		if phonefleet.ErrorCode(err) != phonefleet.ENoBinding ||
			phonefleet.ErrorMessage(err) != "user-instance bindings do not exist: bob/"+ins[0]+", bob/"+ins[1] {
			t.Fatalf("Unassign(bob)=%v", err)
		}
		wantSnapshot(t, s, before, tn.ID)

		plan := mustUnassign(t, s, tn.ID, "alice", ins[0])
		if len(plan.Commands) != 1 {
			t.Fatalf("plan=%+v", plan)
		}
		c := mustJob(t, s, plan.Commands[0].ID)
		if c.Type != phonefleet.CommandWipeUserData || c.UserID != "alice" || c.InstanceID != ins[0] || c.TaskID != plan.TaskID ||
			c.State != phonefleet.JobStatePending || !c.NextAttemptAt.Equal(clk.Now()) || c.TenantName != "acme" {
			t.Fatalf("wipe=%s", fmtJob(c))
		}
		in := mustFindInstance(t, s, tn.ID, ins[0])
		if in.AssignUser != "" || in.Command != phonefleet.CommandWipeUserData || in.CommandID != c.ID {
			t.Fatalf("instance=%s, want unassigned with the wipe in flight", fmtInstance(in))
		}
		// The phone keeps running while its user's data is wiped.
		if st := mustStatus(t, s, tn.ID, ins[0]); st.RunningStatus() != phonefleet.StatusRunning {
			t.Fatalf("running status=%d, want 2", st.RunningStatus())
		}
		// A retry finds the wipe in flight: 5005; after it, the binding is gone: 2210.
		_, err = s.Unassign(t.Context(), assignRequest(tn.ID, "alice", ins[0]))
		wantCode(t, err, phonefleet.ENotAllRunning)
		_, err = s.Assign(t.Context(), assignRequest(tn.ID, "alice", ins[0]))
		wantCode(t, err, phonefleet.ECannotAssign)
		mustClaim(t, s, "w1", 10, time.Minute)
		if err := s.CompleteCommand(t.Context(), c.ID, "w1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Unassign(t.Context(), assignRequest(tn.ID, "alice", ins[0]))
		wantCode(t, err, phonefleet.ENoBinding)
		mustAssign(t, s, tn.ID, "bob", ins[0])
	})

	t.Run("Reboot", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 3)))
		mustAssign(t, s, tn.ID, "alice", ins[1])
		plan := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0], ins[1])
		for i, c := range plan.Commands {
			if c.InstanceID != ins[i] || c.Type != phonefleet.CommandReboot {
				t.Fatalf("command %d=%s", i, fmtJob(c))
			}
			if st := mustStatus(t, s, tn.ID, ins[i]); st.RunningStatus() != phonefleet.StatusStarting {
				t.Fatalf("running status of %s=%d, want 4", ins[i], st.RunningStatus())
			}
		}
		if e := lastAudit(t, s); e.Action != phonefleet.ActionInstanceReboot || e.ErrorCode != "0" || !slices.Equal(e.InstanceIDs, ins[:2]) {
			t.Fatalf("audit=%+v", e)
		}
		// A second command while one is in flight: 5005 listing the busy ones.
		before := snapshot(t, s, tn.ID)
		_, err := s.StartCommands(t.Context(), &phonefleet.CommandRequest{TenantID: tn.ID, Type: phonefleet.CommandReset,
			InstanceIDs: []string{ins[2], ins[1], ins[0]}})
		if phonefleet.ErrorCode(err) != phonefleet.ENotAllRunning ||
			phonefleet.ErrorMessage(err) != "instances are not all running and idle: "+ins[1]+", "+ins[0] {
			t.Fatalf("StartCommands=%v", err)
		}
		wantSnapshot(t, s, before, tn.ID)

		// Confirmed: running and idle again; the binding stayed.
		mustClaim(t, s, "w1", 10, time.Minute)
		for _, c := range plan.Commands {
			if err := s.CompleteCommand(t.Context(), c.ID, "w1"); err != nil {
				t.Fatal(err)
			}
		}
		if in := mustFindInstance(t, s, tn.ID, ins[1]); in.State != phonefleet.InstanceStateRunning || in.Command != "" || in.AssignUser != "alice" {
			t.Fatalf("instance=%s, want running, idle, still alice's", fmtInstance(in))
		}
		mustStart(t, s, tn.ID, phonefleet.CommandReset, ins...)
	})

	t.Run("Prepare", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		tn, other := mustCreateTenant(t, s, "acme"), mustCreateTenant(t, s, "globex")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 6)))
		theirs := ids(mustPurchase(t, s, monthlyRequest(other.ID, 1)))
		mustAssign(t, s, tn.ID, "alice", ins[0], ins[2])
		mustAssign(t, s, tn.ID, "bob", ins[1])
		mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[2])
		mustStart(t, s, tn.ID, phonefleet.CommandReset, ins[3])
		mustUnsubscribe(t, s, tn.ID, ins[4])
		before := snapshot(t, s, tn.ID)
		got, err := s.Prepare(t.Context(), &phonefleet.PrepareRequest{TenantID: tn.ID, UserID: "alice", InstanceIDs: ins})
		if err != nil {
			t.Fatal(err)
		}
		want := []int{0, 2, 5, 4, 6, 2}
		for i, st := range got {
			if st.InstanceID != ins[i] || st.Status != want[i] {
				t.Fatalf("status %d=%+v, want %d", i, st, want[i])
			}
		}
		wantSnapshot(t, s, before, tn.ID)
		if e := lastAudit(t, s); e.Action != phonefleet.ActionInstancePrepare || e.ErrorCode != "0" {
			t.Fatalf("audit=%+v", e)
		}
		audits := len(mustFindAudit(t, s))
		_, err = s.Prepare(t.Context(), &phonefleet.PrepareRequest{TenantID: tn.ID, UserID: "alice", InstanceIDs: []string{ins[0], theirs[0]}})
		if phonefleet.ErrorCode(err) != phonefleet.ENoInstance || phonefleet.ErrorMessage(err) != "instances do not exist: "+theirs[0] {
			t.Fatalf("Prepare=%v", err)
		}
		// A failure writes no audit event: the HTTP layer audits it.
		if n := len(mustFindAudit(t, s)); n != audits {
			t.Fatalf("audit events=%d after a failed Prepare, want %d", n, audits)
		}
	})

	t.Run("AcceptAndReport", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 2)))
		plan := mustStart(t, s, tn.ID, phonefleet.CommandReset, ins...)
		a, b := plan.Commands[0].ID, plan.Commands[1].ID
		mustClaim(t, s, "w1", 10, time.Minute)
		deadline := clk.Now().Add(30 * time.Minute)
		for _, id := range []string{a, b} {
			if err := s.AcceptCommand(t.Context(), id, "w1", deadline); err != nil {
				t.Fatal(err)
			}
		}
		if c := mustJob(t, s, a); c.State != phonefleet.JobStateAccepted || c.Attempts != 1 || !c.NextAttemptAt.Equal(deadline) {
			t.Fatalf("accepted=%s", fmtJob(c))
		}
		// Accepted stays in flight and is never claimed again.
		clk.Add(time.Hour - 31*time.Minute)
		wantIDs(t, "claim while accepted", mustClaim(t, s, "w2", 10, time.Minute), []string{})
		if st := mustStatus(t, s, tn.ID, ins[0]); st.RunningStatus() != phonefleet.StatusStarting {
			t.Fatalf("running status=%d, want 4", st.RunningStatus())
		}

		done := phonefleet.CommandReport{State: phonefleet.JobStateDone}
		failed := phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "image missing"}
		if err := s.ReportCommand(t.Context(), a, done); err != nil {
			t.Fatal(err)
		}
		if c := mustJob(t, s, a); c.State != phonefleet.JobStateDone || c.DoneAt == nil {
			t.Fatalf("reported=%s", fmtJob(c))
		}
		// Repeated: a no-op; the other outcome: EJobFinished; unknown: EJobNotFound.
		before := snapshot(t, s, tn.ID)
		if err := s.ReportCommand(t.Context(), a, done); err != nil {
			t.Fatalf("repeated report: %v", err)
		}
		wantCode(t, s.ReportCommand(t.Context(), a, failed), phonefleet.EJobFinished)
		wantCode(t, s.ReportCommand(t.Context(), "job_nosuch", done), phonefleet.EJobNotFound)
		wantCode(t, s.ReportCommand(t.Context(), a, phonefleet.CommandReport{State: "ok"}), phonefleet.EInvalid)
		wantSnapshot(t, s, before, tn.ID)

		// The data plane reports failure: failed for good, instance idle
		// again, the operator may retry.
		if err := s.ReportCommand(t.Context(), b, failed); err != nil {
			t.Fatal(err)
		}
		if c := mustJob(t, s, b); c.State != phonefleet.JobStateFailed || c.LastError != "image missing" {
			t.Fatalf("failed=%s", fmtJob(c))
		}
		if in := mustFindInstance(t, s, tn.ID, ins[1]); in.State != phonefleet.InstanceStateRunning || in.Command != "" {
			t.Fatalf("instance=%s, want running and idle", fmtInstance(in))
		}
		if err := s.ReportCommand(t.Context(), b, failed); err != nil {
			t.Fatalf("repeated failure report: %v", err)
		}
		if err := s.RetryCommand(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if c := mustJob(t, s, b); c.State != phonefleet.JobStatePending || c.Attempts != 0 || c.DoneAt != nil {
			t.Fatalf("retried=%s", fmtJob(c))
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 2)))
		mustUnsubscribe(t, s, tn.ID, ins[1])
		reboot := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0]).Commands[0].ID
		release := jobOf(t, s, ins[1])
		mustClaim(t, s, "w1", 10, time.Minute)
		for _, id := range []string{reboot, release} {
			if err := s.AcceptCommand(t.Context(), id, "w1", clk.Now().Add(30*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(30*time.Minute - time.Microsecond)
		mustClaim(t, s, "w1", 10, time.Minute)
		if c := mustJob(t, s, reboot); c.State != phonefleet.JobStateAccepted {
			t.Fatalf("before the deadline=%s", fmtJob(c))
		}
		clk.Add(time.Microsecond)
		mustClaim(t, s, "w1", 10, time.Minute) // a claim fails what is overdue
		for _, id := range []string{reboot, release} {
			if c := mustJob(t, s, id); c.State != phonefleet.JobStateFailed || c.LastError == "" {
				t.Fatalf("after the deadline=%s", fmtJob(c))
			}
		}
		// A failed reboot leaves the phone running and idle; a failed
		// release leaves it deleting.
		if in := mustFindInstance(t, s, tn.ID, ins[0]); in.State != phonefleet.InstanceStateRunning || in.Command != "" {
			t.Fatalf("instance=%s", fmtInstance(in))
		}
		if in := mustFindInstance(t, s, tn.ID, ins[1]); in.State != phonefleet.InstanceStateDeleting || in.Command != "" {
			t.Fatalf("instance=%s", fmtInstance(in))
		}
		// A late report of success is refused and changes nothing.
		wantCode(t, s.ReportCommand(t.Context(), reboot, phonefleet.CommandReport{State: phonefleet.JobStateDone}), phonefleet.EJobFinished)
		// jobs retry works on every kind, by instance ID too.
		if err := s.RetryCommand(t.Context(), ins[0]); err != nil {
			t.Fatal(err)
		}
		if err := s.RetryCommand(t.Context(), release); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "claim after retry", mustClaim(t, s, "w2", 10, time.Minute), slices.Sorted(slices.Values(ins)))
	})

	t.Run("RetryRefused", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 1)))
		reboot := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0]).Commands[0].ID
		mustClaim(t, s, "w1", 10, time.Minute)
		if err := s.FailCommand(t.Context(), reboot, "w1", "gave up", clk.Now(), true); err != nil {
			t.Fatal(err)
		}
		// Another command took the instance meanwhile: the retry would be a
		// second one in flight.
		reset := mustStart(t, s, tn.ID, phonefleet.CommandReset, ins[0]).Commands[0].ID
		wantCode(t, s.RetryCommand(t.Context(), reboot), phonefleet.EInvalid)
		if err := s.RetryCommand(t.Context(), reset); err != nil { // pending: made due now
			t.Fatal(err)
		}
		// Unsubscribed: the reboot can never run again.
		mustUnsubscribe(t, s, tn.ID, ins[0])
		wantCode(t, s.RetryCommand(t.Context(), reboot), phonefleet.EInvalid)
		wantCode(t, s.RetryCommand(t.Context(), "job_nosuch"), phonefleet.ENotFound)
	})

	t.Run("UnsubscribeWins", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 3)))
		mustAssign(t, s, tn.ID, "alice", ins[0], ins[1])
		reboot := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0]).Commands[0].ID
		wipe := mustUnassign(t, s, tn.ID, "alice", ins[1]).Commands[0].ID
		mustAssign(t, s, tn.ID, "bob", ins[2])
		mustClaim(t, s, "w1", 10, time.Minute)
		if err := s.AcceptCommand(t.Context(), wipe, "w1", clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		mustUnsubscribe(t, s, tn.ID, ins...)
		for _, id := range []string{reboot, wipe} {
			if c := mustJob(t, s, id); c.State != phonefleet.JobStateCanceled || c.DoneAt == nil {
				t.Fatalf("command=%s, want canceled", fmtJob(c))
			}
		}
		for _, id := range ins {
			in := mustFindInstance(t, s, tn.ID, id)
			if in.State != phonefleet.InstanceStateDeleting || in.AssignUser != "" || in.Command != phonefleet.CommandRelease {
				t.Fatalf("instance=%s, want deleting, unbound, release in flight", fmtInstance(in))
			}
		}
		// The worker that was delivering the reboot completes it late: a
		// no-op; a late report of the accepted wipe is refused.
		before := snapshot(t, s, tn.ID)
		if err := s.CompleteCommand(t.Context(), reboot, "w1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.ReportCommand(t.Context(), wipe, phonefleet.CommandReport{State: phonefleet.JobStateDone}), phonefleet.EJobFinished)
		wantSnapshot(t, s, before, tn.ID)
		// Released in the end: no binding, nothing in flight.
		mustClaim(t, s, "w2", 10, time.Minute)
		for _, id := range ins {
			if err := s.CompleteCommand(t.Context(), jobOf(t, s, id), "w2"); err != nil {
				t.Fatal(err)
			}
			if in := mustFindInstance(t, s, tn.ID, id); in.State != phonefleet.InstanceStateReleased || in.AssignUser != "" || in.Command != "" {
				t.Fatalf("instance=%s", fmtInstance(in))
			}
		}
	})
}

// testCommandConcurrent runs overlapping assign, unassign, reboot, reset
// and unsubscribe batches from many goroutines, with a worker confirming
// commands meanwhile, and then checks invariant 7 and the refunds: never
// two commands in flight on one instance, no binding or pending command on
// a released or deleting instance, one refund and one release per
// unsubscribed instance.
func testCommandConcurrent(t *testing.T, open Opener) {
	const goroutines, rounds, n = 24, 12, 10
	s, _ := mustOpen(t, open)
	tn := mustCreateTenant(t, s, "acme")
	ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, n)))

	stop := make(chan struct{})
	var worker sync.WaitGroup
	worker.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			cs, err := s.ClaimCommands(t.Context(), "worker", 5, time.Minute)
			if err != nil {
				t.Errorf("ClaimCommands: %v", err)
				return
			}
			for _, c := range cs {
				if err := s.CompleteCommand(t.Context(), c.ID, "worker"); err != nil {
					t.Errorf("CompleteCommand: %v", err)
					return
				}
			}
		}
	})

	allowed := map[string]bool{"0": true, phonefleet.ECannotAssign: true, phonefleet.ENoBinding: true, phonefleet.ENotAllRunning: true}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range rounds {
				batch := slices.Clone(ins)
				r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
				batch = batch[:1+r.IntN(3)]
				user := fmt.Sprintf("u%d", r.IntN(2))
				var err error
				switch op := r.IntN(10); {
				case op < 3:
					_, err = s.Assign(t.Context(), assignRequest(tn.ID, user, batch...))
				case op < 5:
					_, err = s.Unassign(t.Context(), assignRequest(tn.ID, user, batch...))
				case op < 7:
					_, err = s.StartCommands(t.Context(), &phonefleet.CommandRequest{TenantID: tn.ID, Type: phonefleet.CommandReboot, InstanceIDs: batch})
				case op < 8:
					_, err = s.StartCommands(t.Context(), &phonefleet.CommandRequest{TenantID: tn.ID, Type: phonefleet.CommandReset, InstanceIDs: batch})
				case op < 9 || g%6 != 0:
					// Most goroutines unsubscribe rarely, so the fleet does
					// not go away before the others had their say.
					if r.IntN(4) == 0 {
						_, err = s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-u", InstanceIDs: batch})
					}
				default:
					_, err = s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-u", InstanceIDs: batch})
				}
				if code := phonefleet.ErrorCode(err); err != nil && !allowed[code] {
					t.Errorf("operation on %v: %v", batch, err)
				}
				// Check invariant 7 while everything runs.
				checkCommandInvariants(t, s, tn.ID, false)
			}
		})
	}
	wg.Wait()
	close(stop)
	worker.Wait()
	// Deliver what is left, then everything must be idle.
	for {
		cs, err := s.ClaimCommands(t.Context(), "last", 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		} else if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if err := s.CompleteCommand(t.Context(), c.ID, "last"); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkCommandInvariants(t, s, tn.ID, true)
}

// checkCommandInvariants fails on two commands in flight for one instance,
// a binding on an instance that is not running, a command other than the
// release in flight on a deleting instance, anything in flight on a
// released one, or an unsubscribed instance without exactly one refund
// and one release. With final, every pending release is completed first
// and every instance must end idle.
func checkCommandInvariants(t *testing.T, s phonefleet.Store, tenantID string, final bool) {
	t.Helper()
	cs := mustFindJobs(t, s)
	inFlight, releases := map[string]int{}, map[string]int{}
	for _, c := range cs {
		if c.State.InFlight() {
			inFlight[c.InstanceID]++
		}
		if c.Type == phonefleet.CommandRelease {
			releases[c.InstanceID]++
		}
	}
	for id, k := range inFlight {
		if k > 1 {
			t.Errorf("instance %s has %d commands in flight", id, k)
		}
	}
	refunds := map[string]int{}
	for _, r := range mustFindRefunds(t, s) {
		refunds[r.InstanceID]++
	}
	ins, _, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tenantID, IncludeReleased: true, Limit: allInstances})
	if err != nil {
		t.Errorf("FindInstances: %v", err)
		return
	}
	for _, in := range ins {
		if in.State != phonefleet.InstanceStateRunning && in.AssignUser != "" {
			t.Errorf("instance %s is %s and bound to %q", in.ID, in.State, in.AssignUser)
		}
		if in.State == phonefleet.InstanceStateDeleting && in.Command != "" && in.Command != phonefleet.CommandRelease {
			t.Errorf("instance %s is deleting with a %s in flight", in.ID, in.Command)
		}
		if in.State == phonefleet.InstanceStateReleased && in.Command != "" {
			t.Errorf("instance %s is released with a %s in flight", in.ID, in.Command)
		}
		if !final {
			// The reads above are separate snapshots: counts across them
			// are only compared once everything has stopped.
			continue
		}
		if in.Unsubscribed() && (refunds[in.ID] != 1 || releases[in.ID] != 1) {
			t.Errorf("unsubscribed instance %s has %d refunds and %d releases, want 1 and 1", in.ID, refunds[in.ID], releases[in.ID])
		}
		if !in.Unsubscribed() && (refunds[in.ID] != 0 || releases[in.ID] != 0) {
			t.Errorf("running instance %s has %d refunds and %d releases", in.ID, refunds[in.ID], releases[in.ID])
		}
		if in.Command != "" {
			t.Errorf("instance %s still has a %s in flight after the worker stopped", in.ID, in.Command)
		}
	}
}
