package storetest

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// testDelivery: automatic retries keep a command's delivery, a manual
// retry (RetryCommand) makes a new one with the same event ID; a report on
// a command that ended otherwise than by a report of that outcome is
// EJobFinished and changes nothing; a done command has no last error.
func testDelivery(t *testing.T, open Opener) {
	s, clk := mustOpen(t, open)
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 3)))
	done := phonefleet.CommandReport{State: phonefleet.JobStateDone}
	failed := phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "late"}

	job := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0]).Commands[0].ID
	first := mustJob(t, s, job)
	if first.Deliveries != 1 || first.DeliveryID() != first.EventID+".1" {
		t.Fatalf("new command=%s, delivery %s; want the first delivery", fmtJob(first), first.DeliveryID())
	}
	// An automatic retry is the same delivery.
	mustClaim(t, s, "w1", 10, time.Minute)
	mustFail(t, s, ins[0], "w1", "webhook status 500", clk.Now(), false)
	if c := mustJob(t, s, job); c.DeliveryID() != first.DeliveryID() || c.LastError != "webhook status 500" {
		t.Fatalf("after an automatic retry=%s", fmtJob(c))
	}
	// Accepted, then timed out.
	mustClaim(t, s, "w1", 10, time.Minute)
	if err := s.AcceptCommand(ctx, job, "w1", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	mustClaim(t, s, "w1", 10, time.Minute)
	if c := mustJob(t, s, job); c.State != phonefleet.JobStateFailed || c.Reported {
		t.Fatalf("after the deadline=%s, want failed by timeout", fmtJob(c))
	}
	// Late reports, of either outcome: EJobFinished, nothing changes.
	before := snapshot(t, s, tn.ID)
	timedOut := mustJob(t, s, job)
	wantCode(t, s.ReportCommand(ctx, job, failed), phonefleet.EJobFinished)
	wantCode(t, s.ReportCommand(ctx, job, done), phonefleet.EJobFinished)
	wantSnapshot(t, s, before, tn.ID)
	if c := mustJob(t, s, job); c.LastError != timedOut.LastError || c.State != phonefleet.JobStateFailed || c.DoneAt == nil || !c.DoneAt.Equal(*timedOut.DoneAt) {
		t.Fatalf("after late reports=%s, want %s", fmtJob(c), fmtJob(timedOut))
	}

	// jobs retry: a new delivery of the same event.
	if err := s.RetryCommand(ctx, job); err != nil {
		t.Fatal(err)
	}
	second := mustJob(t, s, job)
	if second.EventID != first.EventID || second.Deliveries != 2 || second.DeliveryID() == first.DeliveryID() {
		t.Fatalf("retried=%s, want the same event, delivery 2", fmtJob(second))
	}
	// Confirmed at once (200): done, the last error cleared; a report
	// afterwards is late.
	mustClaim(t, s, "w2", 10, time.Minute)
	if err := s.CompleteCommand(ctx, job, "w2"); err != nil {
		t.Fatal(err)
	}
	if c := mustJob(t, s, job); c.State != phonefleet.JobStateDone || c.LastError != "" || c.Deliveries != 2 || c.Reported {
		t.Fatalf("done=%s, want no last error", fmtJob(c))
	}
	before = snapshot(t, s, tn.ID)
	wantCode(t, s.ReportCommand(ctx, job, done), phonefleet.EJobFinished)
	wantSnapshot(t, s, before, tn.ID)

	// A pending command retried by hand is a new delivery too.
	pending := mustStart(t, s, tn.ID, phonefleet.CommandReset, ins[1]).Commands[0].ID
	if err := s.RetryCommand(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if c := mustJob(t, s, pending); c.State != phonefleet.JobStatePending || c.Deliveries != 2 {
		t.Fatalf("pending retried=%s, want delivery 2", fmtJob(c))
	}

	// Reported failed: a repeated failure report is a no-op; after a
	// retry, a done report completes it and clears the reported error.
	again := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[2]).Commands[0].ID
	mustClaim(t, s, "w3", 10, time.Minute)
	if err := s.AcceptCommand(ctx, again, "w3", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportCommand(ctx, again, failed); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportCommand(ctx, again, failed); err != nil {
		t.Fatalf("repeated failure report: %v", err)
	}
	if c := mustJob(t, s, again); c.State != phonefleet.JobStateFailed || !c.Reported || c.LastError != "late" {
		t.Fatalf("reported failed=%s", fmtJob(c))
	}
	if err := s.RetryCommand(ctx, again); err != nil {
		t.Fatal(err)
	}
	if c := mustJob(t, s, again); c.Reported || c.Deliveries != 2 || c.LastError != "late" {
		t.Fatalf("retried=%s, want a new delivery, not reported, its last error kept", fmtJob(c))
	}
	mustClaim(t, s, "w3", 10, time.Minute)
	if err := s.AcceptCommand(ctx, again, "w3", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportCommand(ctx, again, done); err != nil {
		t.Fatal(err)
	}
	if c := mustJob(t, s, again); c.State != phonefleet.JobStateDone || !c.Reported || c.LastError != "" {
		t.Fatalf("reported done=%s, want done without last error", fmtJob(c))
	}
	if err := s.ReportCommand(ctx, again, done); err != nil {
		t.Fatalf("repeated done report: %v", err)
	}
	wantCode(t, s.ReportCommand(ctx, again, failed), phonefleet.EJobFinished)
}
