package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// mustBuy buys n instances for the tenant (monthly, else pay-per-use) and
// returns their IDs.
func mustBuy(tb testing.TB, db *DB, tenantID string, n int, monthly bool) []string {
	tb.Helper()
	var ids []string
	for len(ids) < n {
		req := &phonefleet.PurchaseRequest{
			TenantID: tenantID, RequestID: "buy-" + phonefleet.NewID(8), OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g",
			BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4", NamePrefix: "phone", BandSize: 2,
			Count: min(n-len(ids), phonefleet.MaxPurchaseCount), ChargingMode: phonefleet.ChargingModePayPerUse,
		}
		if monthly {
			req.ChargingMode, req.PeriodType, req.PeriodNum = phonefleet.ChargingModePrepaid, phonefleet.PeriodTypeMonth, 1
		}
		_, ins, err := db.Purchase(context.Background(), req)
		if err != nil {
			tb.Fatalf("purchase: %v", err)
		}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

func mustTenant(tb testing.TB, db *DB, name string) string {
	tb.Helper()
	t := &phonefleet.Tenant{Name: name}
	if err := db.CreateTenant(context.Background(), t); err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	return t.ID
}

func mustCountRows(tb testing.TB, db *DB, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// holdGroups makes db run one group at a time, and hold its first group
// until n unsubscribes are queued: they then share one transaction. It
// returns the number of unsubscribes each committed group settled.
func holdGroups(db *DB, n int) func() []int {
	gate := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var settled []int
	db.testRunners = 1
	db.testHookTake = func() { <-gate }
	db.testHookQueued = func(queued int) {
		if queued >= n {
			once.Do(func() { close(gate) })
		}
	}
	db.testHookGroup = func(n int) {
		mu.Lock()
		defer mu.Unlock()
		settled = append(settled, n)
	}
	return func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(settled)
	}
}

type unsubscribeResult struct {
	plan *phonefleet.UnsubscribePlan
	err  error
}

// unsubscribeAll sends reqs to db at once and returns their results.
func unsubscribeAll(db *DB, reqs []*phonefleet.UnsubscribeRequest) []unsubscribeResult {
	out := make([]unsubscribeResult, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			out[i].plan, out[i].err = db.Unsubscribe(context.Background(), req)
		})
	}
	wg.Wait()
	return out
}

// mustBeStates fails unless each instance is in its state, with one refund
// and one release command if it is deleting, none else.
func mustBeStates(tb testing.TB, db *DB, want map[string]phonefleet.InstanceState) {
	tb.Helper()
	for id, st := range want {
		var got string
		if err := db.pool.QueryRow(context.Background(), `SELECT state FROM instances WHERE id = $1`, id).Scan(&got); err != nil {
			tb.Fatalf("instance %s: %v", id, err)
		} else if got != string(st) {
			tb.Errorf("instance %s is %s, want %s", id, got, st)
		}
		n := 0
		if st == phonefleet.InstanceStateDeleting {
			n = 1
		}
		if got := mustCountRows(tb, db, `SELECT COUNT(*) FROM refunds WHERE instance_id = $1`, id); got != n {
			tb.Errorf("instance %s: %d refunds, want %d", id, got, n)
		}
		if got := mustCountRows(tb, db, `SELECT COUNT(*) FROM commands WHERE instance_id = $1 AND type = 'release'`, id); got != n {
			tb.Errorf("instance %s: %d release commands, want %d", id, got, n)
		}
	}
}

// mustBeAudited fails unless the request has exactly one audit event,
// successful and naming ids, or none when ids is nil.
func mustBeAudited(tb testing.TB, db *DB, requestID string, ids []string) {
	tb.Helper()
	rows, _ := db.pool.Query(context.Background(), `SELECT instance_ids, error_code FROM audit_events WHERE request_id = $1`, requestID)
	type event struct {
		IDs  []string
		Code string
	}
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
	if err != nil {
		tb.Fatal(err)
	}
	if ids == nil {
		if len(events) != 0 {
			tb.Errorf("request %s: audit events %+v, want none (its caller audits its failure)", requestID, events)
		}
		return
	}
	if len(events) != 1 || events[0].Code != phonefleet.ECodeOK || !slices.Equal(events[0].IDs, ids) {
		tb.Errorf("request %s: audit events %+v, want one success naming %v", requestID, events, ids)
	}
}

// One group holds successful unsubscribes, a dry run, and requests that fail
// (a pay-per-use instance, another tenant's instance, a missing one): each
// gets its own answer, the failing ones change nothing, and the others
// commit together.
func TestUnsubscribeGroup_OneFails(t *testing.T) {
	db := openTxTestDB(t)
	acme, other := mustTenant(t, db, "acme"), mustTenant(t, db, "other")
	m := mustBuy(t, db, acme, 4, true)
	payg := mustBuy(t, db, acme, 1, false)[0]
	others := mustBuy(t, db, other, 2, true)
	foreign := others[0]

	reqs := []*phonefleet.UnsubscribeRequest{
		{TenantID: acme, RequestID: "r-one", InstanceIDs: []string{m[0]}},
		{TenantID: acme, RequestID: "r-payg", InstanceIDs: []string{payg}},
		{TenantID: acme, RequestID: "r-foreign", InstanceIDs: []string{foreign}},
		{TenantID: acme, RequestID: "r-two", InstanceIDs: []string{m[2], m[1]}},
		{TenantID: other, RequestID: "r-other", InstanceIDs: []string{others[1]}},
		{TenantID: acme, RequestID: "r-missing", InstanceIDs: []string{"no-such-instance"}},
		{TenantID: acme, RequestID: "r-dry", InstanceIDs: []string{m[3]}, DryRun: true},
	}
	groups := holdGroups(db, len(reqs))
	res := unsubscribeAll(db, reqs)

	if got := groups(); !slices.Equal(got, []int{len(reqs)}) {
		t.Fatalf("groups settled %v, want one of %d", got, len(reqs))
	}
	wantCodes := []string{"", phonefleet.EPayPerUse, phonefleet.ENotOwned, "", "", phonefleet.ENotOwned, ""}
	wantChanges := []int{1, 0, 0, 2, 1, 0, 1} // the dry run's is not applied
	for i, r := range res {
		if code := phonefleet.ErrorCode(r.err); r.err != nil && code != wantCodes[i] || r.err == nil && wantCodes[i] != "" {
			t.Errorf("%s: err=%v, want code %q", reqs[i].RequestID, r.err, wantCodes[i])
		} else if r.err == nil && len(r.plan.Changes()) != wantChanges[i] {
			t.Errorf("%s: %d changes, want %d", reqs[i].RequestID, len(r.plan.Changes()), wantChanges[i])
		}
	}
	// A foreign ID and a missing one get the same answer (invariant 4).
	var foreignErr, missingErr *phonefleet.Error
	if !errors.As(res[2].err, &foreignErr) || !errors.As(res[5].err, &missingErr) ||
		strings.Replace(foreignErr.Message, foreign, "ID", 1) != strings.Replace(missingErr.Message, "no-such-instance", "ID", 1) {
		t.Errorf("foreign ID: %v; missing ID: %v; want the same answer", res[2].err, res[5].err)
	}
	if dry := res[6].plan; dry == nil || len(dry.Items) != 1 || dry.Items[0].Noop || dry.TotalRefund <= 0 {
		t.Errorf("dry run plan=%+v, want one refund", dry)
	}
	mustBeStates(t, db, map[string]phonefleet.InstanceState{
		m[0]: phonefleet.InstanceStateDeleting, m[1]: phonefleet.InstanceStateDeleting, m[2]: phonefleet.InstanceStateDeleting,
		m[3]: phonefleet.InstanceStateRunning, payg: phonefleet.InstanceStateRunning,
		foreign: phonefleet.InstanceStateRunning, others[1]: phonefleet.InstanceStateDeleting,
	})
	mustBeAudited(t, db, "r-one", []string{m[0]})
	mustBeAudited(t, db, "r-two", []string{m[2], m[1]})
	mustBeAudited(t, db, "r-other", []string{others[1]})
	mustBeAudited(t, db, "r-dry", []string{m[3]})
	for _, id := range []string{"r-payg", "r-foreign", "r-missing"} {
		mustBeAudited(t, db, id, nil)
	}
}

// A write of the group fails (a trigger refuses one instance's refund): the
// group rolls back and each unsubscribe runs alone, so the one at fault
// fails, changing nothing, and the others succeed.
func TestUnsubscribeGroup_WriteFailsRunsAlone(t *testing.T) {
	dbURL := createTestSchema(t)
	db := openTestDBAt(t, dbURL, 2)
	acme := mustTenant(t, db, "acme")
	m := mustBuy(t, db, acme, 3, true)
	mustExecAt(t, dbURL, fmt.Sprintf(`
		CREATE FUNCTION refuse_refund() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.instance_id = '%s' THEN
				RAISE EXCEPTION 'refund refused';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_refund BEFORE INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION refuse_refund();`, m[1]))

	reqs := []*phonefleet.UnsubscribeRequest{
		{TenantID: acme, RequestID: "r-0", InstanceIDs: []string{m[0]}},
		{TenantID: acme, RequestID: "r-1", InstanceIDs: []string{m[1]}},
		{TenantID: acme, RequestID: "r-2", InstanceIDs: []string{m[2]}},
	}
	groups := holdGroups(db, len(reqs))
	res := unsubscribeAll(db, reqs)

	if got := groups(); len(got) != 0 {
		t.Fatalf("groups committed %v, want none", got)
	}
	for i, r := range res {
		if i == 1 {
			if code := phonefleet.ErrorCode(r.err); code != phonefleet.EInternal {
				t.Errorf("r-1: err=%v, want EInternal", r.err)
			}
		} else if r.err != nil || len(r.plan.Changes()) != 1 {
			t.Errorf("%s: plan=%+v err=%v, want one change", reqs[i].RequestID, r.plan, r.err)
		}
	}
	mustBeStates(t, db, map[string]phonefleet.InstanceState{
		m[0]: phonefleet.InstanceStateDeleting, m[1]: phonefleet.InstanceStateRunning, m[2]: phonefleet.InstanceStateDeleting,
	})
	mustBeAudited(t, db, "r-0", []string{m[0]})
	mustBeAudited(t, db, "r-1", nil)
	mustBeAudited(t, db, "r-2", []string{m[2]})
}

// Two unsubscribes naming the same instance never share a transaction: the
// second runs in the next group and sees the first's change.
func TestUnsubscribeGroup_SameInstance(t *testing.T) {
	db := openTxTestDB(t)
	acme := mustTenant(t, db, "acme")
	m := mustBuy(t, db, acme, 2, true)
	reqs := []*phonefleet.UnsubscribeRequest{
		{TenantID: acme, RequestID: "r-a", InstanceIDs: []string{m[0]}},
		{TenantID: acme, RequestID: "r-b", InstanceIDs: []string{m[1], m[0]}},
	}
	groups := holdGroups(db, len(reqs))
	res := unsubscribeAll(db, reqs)
	if got := groups(); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("groups settled %v, want two of one", got)
	}
	total := 0
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("%s: %v", reqs[i].RequestID, r.err)
		}
		total += len(r.plan.Changes())
	}
	if total != 2 {
		t.Fatalf("%d changes in all, want 2 (each instance once)", total)
	}
	mustBeStates(t, db, map[string]phonefleet.InstanceState{m[0]: phonefleet.InstanceStateDeleting, m[1]: phonefleet.InstanceStateDeleting})
}

// An unsubscribe whose caller gives up while it is still queued is
// withdrawn: it changes nothing.
func TestUnsubscribeGroup_WithdrawnWhileQueued(t *testing.T) {
	db := openTxTestDB(t)
	acme := mustTenant(t, db, "acme")
	m := mustBuy(t, db, acme, 1, true)
	gate, queued := make(chan struct{}), make(chan struct{})
	db.testRunners = 1
	db.testHookTake = func() { <-gate }
	db.testHookQueued = func(int) { close(queued) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme, RequestID: "r-gone", InstanceIDs: m})
		done <- err
	}()
	<-queued
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Unsubscribe=%v, want context.Canceled", err)
	}
	close(gate)
	db.Close() // waits for the runner's connection, if it took one
	db2 := openTestDBAt(t, db.URL, 2)
	mustBeStates(t, db2, map[string]phonefleet.InstanceState{m[0]: phonefleet.InstanceStateRunning})
	mustBeAudited(t, db2, "r-gone", nil)
}

// Two nodes (two handles on one database) unsubscribe overlapping batches,
// single IDs among them, all at once: every request succeeds (no deadlock
// fails one), every named instance is refunded and released once, and the
// others keep running.
func TestUnsubscribeGroup_TwoNodes(t *testing.T) {
	dbURL := createTestSchema(t)
	nodes := []*DB{openTestDBAt(t, dbURL, 8), openTestDBAt(t, dbURL, 8)}
	acme := mustTenant(t, nodes[0], "acme")
	ids := mustBuy(t, nodes[0], acme, 70, true)
	var grouped atomic.Int64
	for _, db := range nodes {
		db.testHookGroup = func(n int) { grouped.Add(int64(n)) }
	}

	const requests = 120
	var wg sync.WaitGroup
	start := make(chan struct{})
	changes := make([]int, requests)
	named := map[string]bool{}
	for k := range requests {
		from, size := (7*k)%60, 1+k%10
		list := slices.Clone(ids[from : from+size])
		if k%2 == 1 {
			slices.Reverse(list)
		}
		for _, id := range list {
			named[id] = true
		}
		db := nodes[k%2]
		wg.Go(func() {
			<-start
			plan, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{
				TenantID: acme, RequestID: fmt.Sprintf("r-%d", k), InstanceIDs: list})
			if err != nil {
				t.Errorf("request %d on node %d: %v", k, k%2+1, err)
				return
			}
			changes[k] = len(plan.Changes())
		})
	}
	close(start)
	wg.Wait()

	want := map[string]phonefleet.InstanceState{}
	for _, id := range ids {
		want[id] = phonefleet.InstanceStateRunning
		if named[id] {
			want[id] = phonefleet.InstanceStateDeleting
		}
	}
	mustBeStates(t, nodes[0], want)
	total := 0
	for _, n := range changes {
		total += n
	}
	if total != len(named) {
		t.Fatalf("plans changed %d instances in all, want %d (each named instance once)", total, len(named))
	}
	t.Logf("%d requests on two nodes; %d settled in shared transactions", requests, grouped.Load())
}

// The events of one statement get the IDs of their own rows.
func TestQueueAuditEvents_IDs(t *testing.T) {
	db := openTxTestDB(t)
	var events []*phonefleet.AuditEvent
	for i := range 5 {
		e := &phonefleet.AuditEvent{At: db.Clock(), Action: phonefleet.ActionInstanceDelete,
			RequestID: fmt.Sprintf("req-%d", i), InstanceIDs: make([]string, i),
			Actor: fmt.Sprintf("actor-%d", i), ClientAddr: fmt.Sprintf("192.0.2.%d", i), DryRun: i%2 == 1}
		for j := range i {
			e.InstanceIDs[j] = fmt.Sprintf("i-%d-%d", i, j)
		}
		if i == 3 {
			e.TenantID, e.TokenID = "tenant-3", "token-3"
		}
		events = append(events, e)
	}
	b := &pgx.Batch{}
	queueAuditEvents(b, events)
	if err := db.pool.SendBatch(context.Background(), b).Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		got, err := db.FindAuditEvents(context.Background(), phonefleet.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got, func(g *phonefleet.AuditEvent) bool { return g.ID == e.ID })
		if i < 0 {
			t.Fatalf("event %s: no row with ID %d", e.RequestID, e.ID)
		}
		g := got[i]
		if g.RequestID != e.RequestID || !slices.Equal(g.InstanceIDs, e.InstanceIDs) || g.TenantID != e.TenantID || g.TokenID != e.TokenID ||
			g.Actor != e.Actor || g.ClientAddr != e.ClientAddr || g.DryRun != e.DryRun {
			t.Errorf("row %d=%+v, want %+v", e.ID, g, e)
		}
	}
}

// BenchmarkUnsubscribeCoalesce measures single-ID unsubscribes from 64
// goroutines (-cpu 2) on a pool of 16, each alone in its transaction
// (the baseline) and coalesced, in one run.
func BenchmarkUnsubscribeCoalesce(b *testing.B) {
	for _, mode := range []struct {
		name  string
		alone bool
	}{{"alone", true}, {"coalesced", false}} {
		b.Run(mode.name, func(b *testing.B) {
			db := openTestDBAt(b, createTestSchema(b), 16)
			db.testNoCoalesce = mode.alone
			acme := mustTenant(b, db, "acme")
			ids := mustBuy(b, db, acme, b.N, true)
			var next atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[next.Add(1)-1]
					plan, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{
						TenantID: acme, RequestID: "bench-" + id, InstanceIDs: []string{id}})
					if err != nil {
						b.Error(err)
						return
					} else if len(plan.Changes()) != 1 {
						b.Errorf("changes=%d, want 1", len(plan.Changes()))
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "unsubscribes/s")
		})
	}
}

// TestUnsubscribeGroup_LocksRows: while a shared unsubscribe transaction
// plans, its instances are locked against any other writer: another
// transaction cannot even take the lock an UPDATE of the row would take.
// (A weaker lock that only guards the key, FOR KEY SHARE, would let it.)
func TestUnsubscribeGroup_LocksRows(t *testing.T) {
	db := openTxTestDB(t)
	acme := mustTenant(t, db, "acme")
	id := mustBuy(t, db, acme, 1, true)[0]
	locked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	db.testHookLocked = func() { once.Do(func() { close(locked); <-release }) }

	done := make(chan error, 1)
	go func() {
		_, err := db.Unsubscribe(context.Background(), &phonefleet.UnsubscribeRequest{TenantID: acme, RequestID: "r-lock", InstanceIDs: []string{id}})
		done <- err
	}()
	<-locked
	tx, err := db.pool.Begin(context.Background())
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	_, lockErr := tx.Exec(context.Background(), `SELECT id FROM instances WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, id)
	tx.Rollback(context.Background())
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if pgCode(lockErr) != "55P03" {
		t.Fatalf("locking the instance while the unsubscribe held it: err=%v, want lock_not_available (55P03)", lockErr)
	}
	mustBeStates(t, db, map[string]phonefleet.InstanceState{id: phonefleet.InstanceStateDeleting})
}

// TestCoalescerTake_RoundRobin: a group takes the tenants' queued
// unsubscribes round robin, so one tenant that queued more than a group
// holds does not push another tenant's unsubscribe, queued after all of
// them, into a later group; what is left stays queued in order, and a
// withdrawn unsubscribe is dropped.
func TestCoalescerTake_RoundRobin(t *testing.T) {
	op := func(tenant string, ids ...string) *unsubscribeOp {
		return &unsubscribeOp{req: &phonefleet.UnsubscribeRequest{TenantID: tenant, InstanceIDs: ids}}
	}
	q := &coalescer{runners: 1}
	var flood []*unsubscribeOp
	for i := range maxGroupIDs + 100 {
		flood = append(flood, op("flood", fmt.Sprintf("f%d", i)))
	}
	gone := op("other", "o0")
	gone.withdrawn = true
	small := op("other", "o1")
	big := op("third", "t0", "t1", "t2")
	q.queue = append(append(slices.Clone(flood), gone, small), big)

	group := q.take()
	// maxGroupIDs-4 of flood's 1-ID unsubscribes fit beside the other two
	// tenants' 1 and 3 IDs.
	if want := maxGroupIDs - 4 + 2; len(group) != want {
		t.Fatalf("group of %d unsubscribes, want %d", len(group), want)
	}
	// Round 0 takes each tenant's oldest: flood's first, other's (the
	// withdrawn one skipped), third's; then flood's, in order.
	if group[0] != flood[0] || group[1] != small || group[2] != big {
		t.Fatalf("group starts %v %v %v, want flood's first, then the other tenants' one each",
			group[0].req, group[1].req, group[2].req)
	}
	for i, op := range group[3:] {
		if op != flood[i+1] {
			t.Fatalf("group[%d]=%v, want flood's unsubscribe %d in queue order", i+3, op.req, i+1)
		}
	}
	if want := flood[maxGroupIDs-4:]; !slices.Equal(q.queue, want) {
		t.Fatalf("left queued %d, want flood's last %d, in order", len(q.queue), len(want))
	}
	for _, op := range group {
		if !op.taken {
			t.Fatalf("%v in the group is not marked taken", op.req)
		}
	}
	if q.runners != 1 {
		t.Fatalf("runners=%d after a group, want 1", q.runners)
	}
	for q.take() != nil {
	}
	if len(q.queue) != 0 || q.runners != 0 {
		t.Fatalf("after draining: queued %d, runners %d, want 0 and 0", len(q.queue), q.runners)
	}
}

// Unsubscribes of tenants whose test clocks differ share one transaction,
// and each plans and records on its own tenant's business time: refunds,
// instances' updated_at and audit events; releases are due at the
// database's time. (One tenant's advance must not move another's refund.)
func TestUnsubscribeGroup_TenantClocks(t *testing.T) {
	db := openTxTestDB(t)
	db.TestClock = true
	acme, beta, gamma := mustTenant(t, db, "acme"), mustTenant(t, db, "beta"), mustTenant(t, db, "gamma")
	a, b, g := mustBuy(t, db, acme, 2, true), mustBuy(t, db, beta, 2, true), mustBuy(t, db, gamma, 1, true)
	far, days := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().UTC().Add(10*24*time.Hour).Truncate(time.Microsecond)
	for tenant, to := range map[string]time.Time{acme: far, beta: days} {
		if _, err := db.MoveClock(t.Context(), &phonefleet.ClockMove{TenantID: tenant, Now: &to}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := []*phonefleet.UnsubscribeRequest{
		{TenantID: acme, RequestID: "r-a", InstanceIDs: a},
		{TenantID: beta, RequestID: "r-b0", InstanceIDs: b[:1]},
		{TenantID: gamma, RequestID: "r-g", InstanceIDs: g},
		{TenantID: beta, RequestID: "r-b1", InstanceIDs: b[1:]},
	}
	groups := holdGroups(db, len(reqs))
	for i, r := range unsubscribeAll(db, reqs) {
		if r.err != nil {
			t.Fatalf("%s: %v", reqs[i].RequestID, r.err)
		}
	}
	if got := groups(); !slices.Equal(got, []int{len(reqs)}) {
		t.Fatalf("groups settled %v, want one of %d", got, len(reqs))
	}
	near := func(got, want time.Time) bool { return !got.Before(want) && got.Sub(want) < time.Minute }
	wantAt := map[string]time.Time{acme: far, beta: days, gamma: time.Now().UTC().Add(-time.Minute)}
	rows, err := db.pool.Query(t.Context(), `
		SELECT i.tenant_id, i.updated_at, r.created_at, r.amount = r.paid, c.next_attempt_at
		FROM instances i JOIN refunds r ON r.instance_id = i.id JOIN commands c ON c.instance_id = i.id AND c.type = 'release'`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var tenant string
		var updated, refunded, due time.Time
		var full bool
		if err := rows.Scan(&tenant, &updated, &refunded, &full, &due); err != nil {
			t.Fatal(err)
		}
		n++
		if !near(updated, wantAt[tenant]) || !updated.Equal(refunded) || time.Until(due).Abs() > time.Minute || full != (tenant == gamma) {
			t.Fatalf("tenant %s: updated_at %v, refund at %v (full %t), release due %v; want its business time about %v, a full refund for gamma only, a release due now",
				tenant, updated, refunded, full, due, wantAt[tenant])
		}
	}
	if err := rows.Err(); err != nil || n != 5 {
		t.Fatalf("rows=%d, %v; want 5", n, err)
	}
	events, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == phonefleet.ActionInstanceDelete && !near(e.At, wantAt[e.TenantID]) {
			t.Fatalf("%s audited at %v, want its tenant's business time about %v", e.RequestID, e.At, wantAt[e.TenantID])
		}
	}
}
