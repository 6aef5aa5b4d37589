package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Together runs ops at once so that the store writes them in one shared
// transaction (SQLite: one batch of the writer, whose unsubscribes run as
// one group; PostgreSQL: one transaction of the coalescer), and returns
// their errors in order. It fails t unless every op shared it. The ops are
// unsubscribes naming distinct instances.
type Together func(t *testing.T, ops []func() error) []error

// GroupOpener is an Opener whose store may also run unsubscribes together:
// together is nil for a store (or a configuration) that writes each one on
// its own.
type GroupOpener func(t *testing.T, now func() time.Time) (s phonefleet.Store, together Together)

// RunStored checks what each write path stores: it reads the rows back
// (refunds, instances, release and other commands, orders, tenants' held
// counts) and compares every field with what the domain rules answer for
// the rows as they were before (phonefleet.PlanPurchase,
// phonefleet.ComputeRefund, phonefleet.NewReleaseCommand), so that a store
// writing a wrong value (the paid amount for the refund, say) fails here
// even when it answers the caller right. Unsubscribes run one by one and,
// when the store can, together.
func RunStored(t *testing.T, open GroupOpener) {
	t.Run("Purchase", func(t *testing.T) { testStoredPurchase(t, open) })
	t.Run("Unsubscribe", func(t *testing.T) { testStoredUnsubscribe(t, open, false) })
	t.Run("UnsubscribeTogether", func(t *testing.T) { testStoredUnsubscribe(t, open, true) })
	t.Run("Commands", func(t *testing.T) { testStoredCommands(t, open) })
}

// mustFindTenant returns the tenant called name.
func mustFindTenant(t *testing.T, s phonefleet.Store, name string) *phonefleet.Tenant {
	t.Helper()
	tn, err := s.FindTenantByName(t.Context(), name)
	if err != nil {
		t.Fatalf("FindTenantByName(%s): %v", name, err)
	}
	return tn
}

// testStoredPurchase buys instances of the three billing modes and checks
// the stored order and instances against PlanPurchase's.
func testStoredPurchase(t *testing.T, open GroupOpener) {
	clk := newClock()
	s, _ := open(t, clk.Now)
	tn := mustCreateTenant(t, s, "acme")
	skus, err := s.FindSKUs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	findSKU := func(id string) *phonefleet.SKU {
		for _, k := range skus {
			if k.ID == id {
				return k
			}
		}
		t.Fatalf("no SKU %s", id)
		return nil
	}

	monthly := monthlyRequest(tn.ID, 3)
	monthly.PeriodNum, monthly.AutoPay = 2, true
	yearly := monthlyRequest(tn.ID, 2)
	yearly.InstanceSKUID, yearly.BandSize, yearly.PeriodType, yearly.PeriodNum, yearly.NamePrefix = "kp.ent.8u16g", 16, phonefleet.PeriodTypeYear, 3, "year"
	ppu := payPerUseRequest(tn.ID, 2)

	held := 0
	for _, req := range []*phonefleet.PurchaseRequest{monthly, yearly, ppu} {
		clk.Add(37 * time.Minute)
		o, ins := func() (*phonefleet.Order, []*phonefleet.Instance) {
			if err := req.Validate(); err != nil {
				t.Fatalf("test request does not validate: %v", err)
			}
			o, ins, err := s.Purchase(t.Context(), req)
			if err != nil {
				t.Fatalf("Purchase: %v", err)
			}
			return o, ins
		}()
		wantO, wantIns, err := phonefleet.PlanPurchase(req, findSKU(req.InstanceSKUID), clk.Now(), func() string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if len(ins) != len(wantIns) {
			t.Fatalf("%s: %d instances, want %d", req.BillingMode(), len(ins), len(wantIns))
		}
		wantO.ID = o.ID
		var stored *phonefleet.Order
		for _, so := range mustExport(t, s).Orders {
			if so.ID == o.ID {
				stored = so
			}
		}
		if stored == nil {
			t.Fatalf("order %s not stored", o.ID)
		} else if got, want := fmtOrder(stored), fmtOrder(wantO); got != want {
			t.Fatalf("stored order:\n got %s\nwant %s", got, want)
		} else if stored.Total != stored.UnitPrice*int64(req.Count) || req.BillingMode().Prepaid() && stored.Total == 0 {
			t.Fatalf("stored order total %d, unit price %d, count %d", stored.Total, stored.UnitPrice, req.Count)
		}
		for i, in := range ins {
			want := wantIns[i]
			want.ID, want.OrderID = in.ID, o.ID
			if got, want := fmtInstance(mustFindInstance(t, s, tn.ID, in.ID)), fmtInstance(want); got != want {
				t.Fatalf("stored instance:\n got %s\nwant %s", got, want)
			}
		}
		held += req.Count
		if got := mustFindTenant(t, s, "acme").HeldInstances; got != held {
			t.Fatalf("HeldInstances=%d, want %d", got, held)
		}
	}
}

// unsubscribeCase is one request of testStoredUnsubscribe.
type unsubscribeCase struct {
	req  *phonefleet.UnsubscribeRequest
	plan *phonefleet.UnsubscribePlan
}

// testStoredUnsubscribe unsubscribes instances of two tenants (monthly and
// yearly, prorated with a fee and within the full-refund window, one bound
// to a user, one with a command in flight) and a dry run, one by one or
// together, and checks every row written against the rules' answers.
func testStoredUnsubscribe(t *testing.T, open GroupOpener, together bool) {
	clk := newClock()
	s, run := open(t, clk.Now)
	if together && run == nil {
		t.Skip("this store writes each unsubscribe on its own")
	}
	acme, globex := mustCreateTenant(t, s, "acme"), mustCreateTenant(t, s, "globex")
	mreq := monthlyRequest(acme.ID, 3)
	mreq.PeriodNum = 3
	m := ids(mustPurchase(t, s, mreq))
	yreq := monthlyRequest(acme.ID, 1)
	yreq.InstanceSKUID, yreq.BandSize, yreq.PeriodType, yreq.PeriodNum = "kp.ent.8u16g", 16, phonefleet.PeriodTypeYear, 2
	y := ids(mustPurchase(t, s, yreq))
	ppu := ids(mustPurchase(t, s, payPerUseRequest(acme.ID, 1)))
	g := ids(mustPurchase(t, s, monthlyRequest(globex.ID, 2)))
	mustAssign(t, s, acme.ID, "alice", m[0])
	reboot := mustStart(t, s, acme.ID, phonefleet.CommandReboot, m[1]).Commands[0].ID
	// Past the five-day window for those, within it for a new one.
	clk.Add(10*24*time.Hour + 90*time.Minute)
	f := ids(mustPurchase(t, s, monthlyRequest(acme.ID, 1)))
	clk.Add(time.Hour + 7*time.Minute)
	now := clk.Now()

	before := make(map[string]*phonefleet.Instance)
	for _, tn := range []string{acme.ID, globex.ID} {
		for _, in := range mustFindInstances(t, s, tn) {
			before[in.ID] = in
		}
	}
	heldBefore := map[string]int{"acme": mustFindTenant(t, s, "acme").HeldInstances, "globex": mustFindTenant(t, s, "globex").HeldInstances}
	audits := len(mustFindAudit(t, s))

	cases := []*unsubscribeCase{
		{req: &phonefleet.UnsubscribeRequest{TenantID: acme.ID, TokenID: "tk-1", RequestID: "req-1", InstanceIDs: []string{m[1], m[0]}}},
		{req: &phonefleet.UnsubscribeRequest{TenantID: acme.ID, TokenID: "tk-2", RequestID: "req-2", InstanceIDs: []string{y[0], f[0]}}},
		{req: &phonefleet.UnsubscribeRequest{TenantID: globex.ID, TokenID: "tk-3", RequestID: "req-3", InstanceIDs: []string{g[0]}}},
		{req: &phonefleet.UnsubscribeRequest{TenantID: acme.ID, TokenID: "tk-4", RequestID: "req-dry", InstanceIDs: []string{m[2]}, DryRun: true}},
	}
	ops := make([]func() error, len(cases))
	for i, c := range cases {
		ops[i] = func() (err error) {
			c.plan, err = s.Unsubscribe(t.Context(), c.req)
			return err
		}
	}
	var errs []error
	if together {
		errs = run(t, ops)
	} else {
		for _, op := range ops {
			errs = append(errs, op())
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", cases[i].req.RequestID, err)
		}
	}

	// What the rules say each changed instance gets.
	wantRefund := make(map[string]phonefleet.Refund)
	wantRequest := make(map[string]*phonefleet.UnsubscribeRequest)
	prorated := 0
	for _, c := range cases {
		var total int64
		for _, id := range c.req.InstanceIDs {
			r := phonefleet.ComputeRefund(before[id], now)
			r.RequestID, r.CreatedAt = c.req.RequestID, now
			total += r.Amount
			if c.req.DryRun {
				continue
			}
			wantRefund[id], wantRequest[id] = r, c.req
			if r.Consumed > 0 && r.Fee > 0 && r.Amount < r.Paid {
				prorated++
			}
		}
		// The answer is the rule's too.
		if c.plan == nil || c.plan.TotalRefund != total || len(c.plan.Items) != len(c.req.InstanceIDs) {
			t.Fatalf("%s: plan %+v, want %d items refunding %d", c.req.RequestID, c.plan, len(c.req.InstanceIDs), total)
		}
	}
	if prorated < 3 || wantRefund[f[0]].Amount != wantRefund[f[0]].Paid || wantRefund[f[0]].Paid == 0 {
		t.Fatalf("test setup: refunds %+v, want three prorated with a fee and one in full", wantRefund)
	}

	// Refunds: one per changed instance, every field as the rule says.
	refunds := mustFindRefunds(t, s)
	if len(refunds) != len(wantRefund) {
		t.Fatalf("refunds=%d, want %d", len(refunds), len(wantRefund))
	}
	for _, r := range refunds {
		w, ok := wantRefund[r.InstanceID]
		if !ok {
			t.Fatalf("refund of %s, which was not unsubscribed", r.InstanceID)
		} else if got, want := fmtRefund(r), fmtRefund(&w); got != want {
			t.Fatalf("stored refund:\n got %s\nwant %s", got, want)
		}
	}

	// Release commands: one per changed instance, as NewReleaseCommand
	// makes it (but for its random IDs); the reboot in flight canceled.
	releases := make(map[string]*phonefleet.Command)
	for _, j := range mustFindJobs(t, s) {
		switch {
		case j.ID == reboot:
			if j.State != phonefleet.JobStateCanceled || j.DoneAt == nil || !j.DoneAt.Equal(now) {
				t.Fatalf("reboot in flight=%s, want canceled at %v", fmtJob(j), now)
			}
		case j.Type == phonefleet.CommandRelease:
			req, ok := wantRequest[j.InstanceID]
			if !ok || releases[j.InstanceID] != nil {
				t.Fatalf("release %s of an instance not unsubscribed, or twice", fmtJob(j))
			}
			releases[j.InstanceID] = j
			want := phonefleet.NewReleaseCommand(j.InstanceID, req.TenantID, req.RequestID, now)
			want.ID, want.TenantName = j.ID, map[string]string{acme.ID: "acme", globex.ID: "globex"}[req.TenantID]
			if j.EventID == "" {
				t.Fatalf("release %s without an event ID", fmtJob(j))
			}
			want.EventID = j.EventID
			if got, want := fmtJob(j), fmtJob(want); got != want {
				t.Fatalf("stored release:\n got %s\nwant %s", got, want)
			}
		default:
			t.Fatalf("unexpected command %s", fmtJob(j))
		}
	}
	if len(releases) != len(wantRequest) {
		t.Fatalf("release commands=%d, want %d", len(releases), len(wantRequest))
	}

	// Instances: the changed ones deleting, unbound, updated now, with
	// their release in flight; every other one as it was.
	for id, old := range before {
		want := *old
		if _, ok := wantRequest[id]; ok {
			want.State, want.AssignUser, want.UpdatedAt = phonefleet.InstanceStateDeleting, "", now
			want.Command, want.CommandID = phonefleet.CommandRelease, releases[id].ID
		}
		if got, want := fmtInstance(mustFindInstance(t, s, old.TenantID, id)), fmtInstance(&want); got != want {
			t.Fatalf("stored instance:\n got %s\nwant %s", got, want)
		}
	}
	if before[ppu[0]].State != phonefleet.InstanceStateRunning || before[g[1]].State != phonefleet.InstanceStateRunning {
		t.Fatal("test setup: the instances left alone must be running")
	}
	// Deleting instances are still held.
	for name, held := range heldBefore {
		if got := mustFindTenant(t, s, name).HeldInstances; got != held {
			t.Fatalf("tenant %s HeldInstances=%d, want %d", name, got, held)
		}
	}

	// One audit event per request, the dry run's included.
	es := mustFindAudit(t, s)
	if len(es) != audits+len(cases) {
		t.Fatalf("audit events=%d, want %d", len(es), audits+len(cases))
	}
	for _, c := range cases {
		n := 0
		for _, e := range es {
			if e.RequestID == c.req.RequestID {
				n++
				if e.Action != phonefleet.ActionInstanceDelete || e.ErrorCode != phonefleet.ECodeOK || e.TenantID != c.req.TenantID ||
					e.TokenID != c.req.TokenID || !e.At.Equal(now) || fmt.Sprint(e.InstanceIDs) != fmt.Sprint(c.req.InstanceIDs) {
					t.Fatalf("audit event %s, want the success of %+v at %v", fmtAudit(e, false), c.req, now)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%s: %d audit events, want 1", c.req.RequestID, n)
		}
	}
}

// testStoredCommands runs commands through their lifecycle (a reboot
// started, release commands claimed, failed, accepted and completed) and
// checks each stored command, instance and held count after each step.
func testStoredCommands(t *testing.T, open GroupOpener) {
	clk := newClock()
	s, _ := open(t, clk.Now)
	tn := mustCreateTenant(t, s, "acme")
	ins := ids(mustPurchase(t, s, monthlyRequest(tn.ID, 4)))
	clk.Add(time.Minute)
	held := 4

	wantJob := func(id string, want *phonefleet.Command) {
		t.Helper()
		if got, want := fmtJob(mustJob(t, s, id)), fmtJob(want); got != want {
			t.Fatalf("stored command:\n got %s\nwant %s", got, want)
		}
	}
	wantInstance := func(id string, state phonefleet.InstanceState, updated time.Time, cmd *phonefleet.Command) {
		t.Helper()
		in := mustFindInstance(t, s, tn.ID, id)
		wantType, wantID := phonefleet.CommandType(""), ""
		if cmd != nil {
			wantType, wantID = cmd.Type, cmd.ID
		}
		if in.State != state || !in.UpdatedAt.Equal(updated) || in.Command != wantType || in.CommandID != wantID {
			t.Fatalf("instance=%s, want %s, updated %v, command %s/%s", fmtInstance(in), state, updated, wantType, wantID)
		}
		if got := mustFindTenant(t, s, "acme").HeldInstances; got != held {
			t.Fatalf("HeldInstances=%d, want %d", got, held)
		}
	}

	// A reboot: pending, due now, as the plan made it.
	plan := mustStart(t, s, tn.ID, phonefleet.CommandReboot, ins[0])
	if len(plan.Commands) != 1 {
		t.Fatalf("plan=%+v, want one command", plan)
	}
	started := clk.Now()
	rb := *plan.Commands[0]
	rb.TenantName = "acme"
	if rb.Type != phonefleet.CommandReboot || rb.InstanceID != ins[0] || rb.TenantID != tn.ID || rb.State != phonefleet.JobStatePending ||
		rb.Attempts != 0 || !rb.NextAttemptAt.Equal(started) || !rb.CreatedAt.Equal(started) || rb.EventID == "" {
		t.Fatalf("planned reboot=%s", fmtJob(&rb))
	}
	wantJob(rb.ID, &rb)
	purchased := mustFindInstance(t, s, tn.ID, ins[1]).UpdatedAt
	wantInstance(ins[0], phonefleet.InstanceStateRunning, purchased, &rb)

	// Three release commands, claimed with the reboot.
	clk.Add(time.Minute)
	unsubscribed := clk.Now()
	mustUnsubscribe(t, s, tn.ID, ins[1], ins[2], ins[3])
	rel := make([]*phonefleet.Command, 4)
	for _, id := range ins[1:] {
		j := mustFindJob(t, s, id)
		rel[slices.Index(ins, id)] = j
		wantInstance(id, phonefleet.InstanceStateDeleting, unsubscribed, j)
	}
	claimed, err := s.ClaimCommands(t.Context(), "w1", 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	} else if len(claimed) != 4 {
		t.Fatalf("claimed %d commands, want 4", len(claimed))
	}
	// Claiming changes none of the command's visible fields.
	wantJob(rb.ID, &rb)

	// A failed attempt of the reboot: attempt 1, its error, due at next.
	clk.Add(time.Second)
	next := clk.Now().Add(30 * time.Second)
	if err := s.FailCommand(t.Context(), rb.ID, "w1", "connection refused", next, false); err != nil {
		t.Fatal(err)
	}
	rb.Attempts, rb.LastError, rb.NextAttemptAt = 1, "connection refused", next
	wantJob(rb.ID, &rb)
	wantInstance(ins[0], phonefleet.InstanceStateRunning, purchased, &rb)

	// A release the data plane took, then completed: done now, the
	// instance released and no longer held.
	deadline := clk.Now().Add(10 * time.Minute)
	if err := s.AcceptCommand(t.Context(), rel[1].ID, "w1", deadline); err != nil {
		t.Fatal(err)
	}
	want := *rel[1]
	want.State, want.Attempts, want.NextAttemptAt = phonefleet.JobStateAccepted, 1, deadline
	wantJob(want.ID, &want)
	wantInstance(ins[1], phonefleet.InstanceStateDeleting, unsubscribed, &want)
	clk.Add(3 * time.Second)
	if err := s.CompleteCommand(t.Context(), rel[1].ID, "w1"); err != nil {
		t.Fatal(err)
	}
	done := clk.Now()
	held--
	if j := mustJob(t, s, rel[1].ID); j.State != phonefleet.JobStateDone || j.Attempts != 1 || j.DoneAt == nil || !j.DoneAt.Equal(done) {
		t.Fatalf("completed release=%s, want done at %v after 1 attempt", fmtJob(j), done)
	}
	wantInstance(ins[1], phonefleet.InstanceStateReleased, done, nil)

	// A release completed without an accepted delivery: the same.
	if err := s.CompleteCommand(t.Context(), rel[2].ID, "w1"); err != nil {
		t.Fatal(err)
	}
	held--
	want = *rel[2]
	want.State, want.DoneAt = phonefleet.JobStateDone, &done
	wantJob(want.ID, &want)
	wantInstance(ins[2], phonefleet.InstanceStateReleased, done, nil)

	// A release failed for good: failed now, the instance still deleting
	// and held.
	if err := s.FailCommand(t.Context(), rel[3].ID, "w1", "gave up", done.Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	want = *rel[3]
	want.State, want.Attempts, want.LastError, want.NextAttemptAt, want.DoneAt = phonefleet.JobStateFailed, 1, "gave up", done.Add(time.Hour), &done
	wantJob(want.ID, &want)
	wantInstance(ins[3], phonefleet.InstanceStateDeleting, unsubscribed, nil)
}
