package sqlite

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestWriter_UnsubscribeGroup runs seven unsubscribes of two tenants in one
// batch, which the writer runs together: three fail (a foreign instance, a
// pay-per-use one, a missing ID) and change nothing, theirs or the
// others'; a dry run writes only its audit event; the others write exactly
// their instances, refunds, release commands and audit events.
func TestWriter_UnsubscribeGroup(t *testing.T) {
	batches := make(chan int, 100)
	var grouped atomic.Int32
	db, h, acme, a := writerSetup(t, 6, func(db *DB) {
		db.testHookCommit = func(n int) error { batches <- n; return nil }
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	buy := func(tenantID string, count, mode int) []*phonefleet.Instance {
		t.Helper()
		req := &phonefleet.PurchaseRequest{
			TenantID: tenantID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
			RegionID: "cn-north-4", NamePrefix: "p", BandSize: 4, Count: count, ChargingMode: mode,
		}
		if mode == phonefleet.ChargingModePrepaid {
			req.PeriodType, req.PeriodNum = phonefleet.PeriodTypeMonth, 1
		}
		_, ins, err := db.Purchase(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return ins
	}
	globex := &phonefleet.Tenant{Name: "globex"}
	if err := db.CreateTenant(t.Context(), globex); err != nil {
		t.Fatal(err)
	}
	g := buy(globex.ID, 2, phonefleet.ChargingModePrepaid)
	ppu := buy(acme.ID, 1, phonefleet.ChargingModePayPerUse)[0]
	for len(batches) > 0 { // the setup's
		<-batches
	}
	h.arm()

	type call struct {
		tenant   string
		ids      []string
		dryRun   bool
		wantCode string // "" for success
	}
	calls := []call{
		{acme.ID, []string{a[0].ID}, false, ""},
		{acme.ID, []string{a[1].ID, a[2].ID}, false, ""},
		{acme.ID, []string{a[3].ID, g[0].ID}, false, phonefleet.ENotOwned},
		{acme.ID, []string{a[4].ID, ppu.ID}, false, phonefleet.EPayPerUse},
		{globex.ID, []string{g[1].ID}, false, ""},
		{acme.ID, []string{a[5].ID}, true, ""},
		{acme.ID, []string{"missing1"}, false, phonefleet.ENotOwned},
	}
	var ops []func() error
	plans := make([]*phonefleet.UnsubscribePlan, len(calls))
	for i, c := range calls {
		ops = append(ops, func() (err error) {
			plans[i], err = db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: c.tenant, RequestID: "req-" + string(rune('a'+i)), InstanceIDs: c.ids, DryRun: c.dryRun,
			})
			return err
		})
	}
	errs := h.runAll(ops)

	if n := <-batches; n != len(ops) {
		t.Fatalf("first batch ran %d operations, want all %d", n, len(ops))
	}
	if n := grouped.Load(); n != int32(len(ops)) {
		t.Fatalf("unsubscribes run together=%d, want %d", n, len(ops))
	}
	for i, c := range calls {
		if got := phonefleet.ErrorCode(errs[i]); c.wantCode == "" && errs[i] != nil || c.wantCode != "" && got != c.wantCode {
			t.Fatalf("call %d: err=%v, want code %q", i, errs[i], c.wantCode)
		}
		if c.wantCode == "" && (plans[i] == nil || len(plans[i].Items) != len(c.ids)) {
			t.Fatalf("call %d: plan=%+v, want one item per ID", i, plans[i])
		}
	}

	deleted := map[string]string{a[0].ID: "req-a", a[1].ID: "req-b", a[2].ID: "req-b", g[1].ID: "req-e"}
	for _, tn := range []string{acme.ID, globex.ID} {
		all, _, err := db.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range all {
			want := phonefleet.InstanceStateRunning
			if _, ok := deleted[in.ID]; ok {
				want = phonefleet.InstanceStateDeleting
			}
			if in.State != want {
				t.Fatalf("instance %s State=%s, want %s", in.ID, in.State, want)
			}
		}
	}
	refunds, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != len(deleted) {
		t.Fatalf("refunds=%d, want %d", len(refunds), len(deleted))
	}
	for _, r := range refunds {
		if req, ok := deleted[r.InstanceID]; !ok || r.RequestID != req || r.Amount <= 0 {
			t.Fatalf("refund %+v, want one of %v with its request ID and an amount", r, deleted)
		}
	}
	cmds, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(cmds) != len(deleted) {
		t.Fatalf("commands=%d, want %d", len(cmds), len(deleted))
	}
	for _, c := range cmds {
		if req, ok := deleted[c.InstanceID]; !ok || c.RequestID != req || c.Type != phonefleet.CommandRelease || c.State != phonefleet.JobStatePending {
			t.Fatalf("command %+v, want a pending release of one of %v", c, deleted)
		}
	}
	// Audit events of the four successes (the dry run's too); the failures
	// wrote none (the caller audits them).
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range es {
		if e.Action == phonefleet.ActionInstanceDelete {
			got[e.RequestID] = true
		}
	}
	if len(got) != 4 || !got["req-a"] || !got["req-b"] || !got["req-e"] || !got["req-f"] {
		t.Fatalf("unsubscribe audit events %v, want req-a, req-b, req-e, req-f", got)
	}
}

// TestWriter_UnsubscribeGroupOverlap: two unsubscribes of the same
// instance in one batch run one by one, so the second sees the first:
// both succeed and the instance is refunded once.
func TestWriter_UnsubscribeGroupOverlap(t *testing.T) {
	var grouped atomic.Int32
	db, h, acme, a := writerSetup(t, 2, func(db *DB) {
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	h.arm()
	var ops []func() error
	for _, ids := range [][]string{{a[0].ID}, {a[0].ID, a[1].ID}} {
		ops = append(ops, func() error {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: acme.ID, InstanceIDs: ids})
			return err
		})
	}
	errs := h.runAll(ops)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("unsubscribe %d: %v", i, err)
		}
	}
	if n := grouped.Load(); n != 0 {
		t.Fatalf("unsubscribes run together=%d, want 0 (they overlap)", n)
	}
	refunds, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != 2 {
		t.Fatalf("refunds=%d, want 2 (one per instance)", len(refunds))
	}
}

// TestWriter_UnsubscribeGroupTestClock: unsubscribes of two tenants run
// together each refund at their own tenant's business time (its test
// clock's offset included), as one alone does, and their releases are due
// at wall time.
func TestWriter_UnsubscribeGroupTestClock(t *testing.T) {
	var grouped atomic.Int32
	db, h, acme, a := writerSetup(t, 2, func(db *DB) {
		db.TestClock = true
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	beta := &phonefleet.Tenant{Name: "beta"}
	if err := db.CreateTenant(t.Context(), beta); err != nil {
		t.Fatal(err)
	}
	_, b, err := db.Purchase(t.Context(), monthlyRequest(beta.ID, 2))
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().UTC().Add(10 * 24 * time.Hour)
	if _, err := db.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: acme.ID, Now: &ahead}); err != nil {
		t.Fatal(err)
	}
	h.arm()
	var ops []func() error
	for _, in := range append(a, b...) {
		ops = append(ops, func() error {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: in.TenantID, InstanceIDs: []string{in.ID}})
			return err
		})
	}
	errs := h.runAll(ops)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("unsubscribe %d: %v", i, err)
		}
	}
	if n := grouped.Load(); n != int32(len(ops)) {
		t.Fatalf("unsubscribes run together=%d, want %d", n, len(ops))
	}
	refunds, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != len(ops) {
		t.Fatalf("refunds=%d, want %d", len(refunds), len(ops))
	}
	for _, r := range refunds {
		if r.TenantID == acme.ID && r.CreatedAt.Before(ahead) {
			t.Fatalf("refund of %s at %v, want acme's business time (at or after %v)", r.InstanceID, r.CreatedAt, ahead)
		} else if r.TenantID == beta.ID && r.CreatedAt.After(time.Now().Add(time.Hour)) {
			t.Fatalf("refund of %s at %v, want beta's business time, wall time (beta's clock never moved)", r.InstanceID, r.CreatedAt)
		}
		if r.TenantID == beta.ID && (r.Amount != r.Paid || r.Fee != 0) {
			t.Fatalf("beta's refund %+v on its day 0, want all of it back", r)
		}
	}
	jobs, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.NextAttemptAt.After(time.Now()) {
			t.Fatalf("release of %s due %v, want wall time", j.InstanceID, j.NextAttemptAt)
		}
	}
}
