package sqlite

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// completeSetup unsubscribes n running instances of a held database's
// tenant and claims their release commands, as the release worker would.
func completeSetup(t *testing.T, n int, configure func(*DB)) (*DB, *writerHold, *phonefleet.Tenant, []*phonefleet.Command) {
	t.Helper()
	db, h, tn, ins := writerSetup(t, n, configure)
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	if _, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-setup", InstanceIDs: ids}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.ClaimCommands(t.Context(), "worker", n, time.Minute)
	if err != nil {
		t.Fatal(err)
	} else if len(cs) != n {
		t.Fatalf("claimed %d commands, want %d", len(cs), n)
	}
	return db, h, tn, cs
}

// checkHeld fails unless the tenant's count of held instances is the
// number of its instances not released.
func checkHeld(t *testing.T, db *DB, tn *phonefleet.Tenant, want int) {
	t.Helper()
	got, err := db.FindTenantByName(t.Context(), tn.Name)
	if err != nil {
		t.Fatal(err)
	}
	var live int
	if err := db.rdb.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM instances WHERE tenant_id = ? AND state <> 'released'`, tn.ID).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if got.HeldInstances != want || live != want {
		t.Fatalf("held_instances=%d, instances not released=%d, want %d", got.HeldInstances, live, want)
	}
}

// TestWriter_CompleteGroup: the completions of a batch run together and
// each gets CompleteCommand's own answer: done and released, ENotFound for
// a missing job, nothing for one no longer in flight; the tenant's count
// of held instances drops by the instances released.
func TestWriter_CompleteGroup(t *testing.T) {
	var grouped atomic.Int32
	db, h, tn, cs := completeSetup(t, 5, func(db *DB) {
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	if err := db.CompleteCommand(t.Context(), cs[4].ID, "worker"); err != nil { // done before the batch
		t.Fatal(err)
	}
	checkHeld(t, db, tn, 4)
	// Earlier attempts failed: the completion clears their last error.
	for _, c := range cs[:3] {
		if err := db.FailCommand(t.Context(), c.ID, "worker", "webhook status 500", db.Now(), false); err != nil {
			t.Fatal(err)
		}
	}
	grouped.Store(0)
	h.arm()

	jobs := []string{cs[0].ID, cs[1].ID, "job_missing", cs[2].ID, cs[4].ID}
	want := []string{"", "", phonefleet.ENotFound, "", ""}
	var ops []func() error
	for _, id := range jobs {
		ops = append(ops, func() error { return db.CompleteCommand(t.Context(), id, "worker") })
	}
	errs := h.runAll(ops)

	if n := grouped.Load(); n != int32(len(ops)) {
		t.Fatalf("completions run together=%d, want %d", n, len(ops))
	}
	for i, err := range errs {
		if got := phonefleet.ErrorCode(err); want[i] == "" && err != nil || want[i] != "" && got != want[i] {
			t.Fatalf("complete %s: err=%v, want code %q", jobs[i], err, want[i])
		}
	}
	after, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{TenantID: &tn.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range after {
		wantState := phonefleet.JobStateDone
		if c.ID == cs[3].ID {
			wantState = phonefleet.JobStatePending // nobody completed it
		}
		if c.State != wantState {
			t.Fatalf("command %s: state %s, want %s", c.ID, c.State, wantState)
		} else if c.State == phonefleet.JobStateDone && c.LastError != "" {
			t.Fatalf("command %s: done with last_error %q, want none", c.ID, c.LastError)
		}
	}
	checkHeld(t, db, tn, 1)
}

// TestWriter_CompleteGroupFallback: when a write of the group fails, the
// group rolls back and each completion runs on its own, so only the one at
// fault fails.
func TestWriter_CompleteGroupFallback(t *testing.T) {
	var grouped atomic.Int32
	db, h, tn, cs := completeSetup(t, 3, func(db *DB) {
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	if _, err := db.wdb.ExecContext(t.Context(), `
		CREATE TRIGGER fail_one BEFORE UPDATE OF state ON commands WHEN OLD.id = '`+cs[1].ID+`'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	grouped.Store(0)
	h.arm()
	var ops []func() error
	for _, c := range cs {
		ops = append(ops, func() error { return db.CompleteCommand(t.Context(), c.ID, "worker") })
	}
	errs := h.runAll(ops)

	if n := grouped.Load(); n != 0 {
		t.Fatalf("completions settled together=%d, want 0 (the group failed)", n)
	}
	for i, err := range errs {
		if (i == 1) != (err != nil) {
			t.Fatalf("complete %d: err=%v, want an error only for the one the trigger refuses", i, err)
		}
	}
	checkHeld(t, db, tn, 1)
}

// TestWriter_GroupFailureRerunsBatch: the groups of a batch run in no
// savepoint, so when the completion group fails after the unsubscribe group
// succeeded, the writer rolls the whole transaction back and runs the batch
// again one operation at a time. Every operation then runs exactly once:
// only the completion at fault fails, and nothing of the first attempt
// (the unsubscribes' refunds and commands) is kept twice.
func TestWriter_GroupFailureRerunsBatch(t *testing.T) {
	batches := make(chan int, 100)
	var grouped atomic.Int32
	db, h, tn, cs := completeSetup(t, 3, func(db *DB) {
		db.testHookCommit = func(n int) error { batches <- n; return nil }
		db.testHookGroup = func(n int) { grouped.Add(int32(n)) }
	})
	_, ins, err := db.Purchase(t.Context(), monthlyRequest(tn.ID, 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.wdb.ExecContext(t.Context(), `
		CREATE TRIGGER fail_one BEFORE UPDATE OF state ON commands WHEN OLD.id = '`+cs[1].ID+`'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	for len(batches) > 0 { // the setup's
		<-batches
	}
	grouped.Store(0)
	h.arm()

	var ops []func() error
	for _, c := range cs {
		ops = append(ops, func() error { return db.CompleteCommand(t.Context(), c.ID, "worker") })
	}
	for _, in := range ins {
		ops = append(ops, func() error {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: "req-" + in.ID, InstanceIDs: []string{in.ID},
			})
			return err
		})
	}
	ops = append(ops, func() error { return db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "globex"}) })
	errs := h.runAll(ops)

	if n := <-batches; n != len(ops) {
		t.Fatalf("batch ran %d operations, want all %d", n, len(ops))
	}
	if n := grouped.Load(); n != 0 {
		t.Fatalf("operations committed as a group=%d, want 0 (a group failed)", n)
	}
	for i, err := range errs {
		if (i == 1) != (err != nil) {
			t.Fatalf("operation %d: err=%v, want an error only for the completion the trigger refuses", i, err)
		}
	}
	// 6 instances bought, 2 released.
	checkHeld(t, db, tn, 4)
	refunds, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != 6 {
		t.Fatalf("refunds=%d, want 6 (3 before the batch, 3 in it)", len(refunds))
	}
	for _, in := range ins {
		cmds, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{InstanceID: &in.ID})
		if err != nil {
			t.Fatal(err)
		} else if len(cmds) != 1 || cmds[0].State != phonefleet.JobStatePending {
			t.Fatalf("commands of %s: %+v, want one pending release", in.ID, cmds)
		}
	}
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{TenantID: &tn.ID})
	if err != nil {
		t.Fatal(err)
	}
	perRequest := map[string]int{}
	for _, e := range es {
		perRequest[e.RequestID]++
	}
	for _, in := range ins {
		if n := perRequest["req-"+in.ID]; n != 1 {
			t.Fatalf("audit events of req-%s=%d, want 1", in.ID, n)
		}
	}
	if _, err := db.FindTenantByName(t.Context(), "globex"); err != nil {
		t.Fatalf("tenant created in the batch: %v", err)
	}
}
