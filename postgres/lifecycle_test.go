package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/postgres"
)

// TestLifecycle_TwoNodes: two stores on one database (two nodes) sweep the
// same due instances at once, in small batches; every instance takes each
// step exactly once across them, and each step has one audit event.
func TestLifecycle_TwoNodes(t *testing.T) {
	dbURL := MustCreateSchema(t, MustTestURL(t))
	clk := testingutil.NewClock(time.Date(2026, 1, 10, 3, 0, 0, 0, time.UTC))
	nodes := []*postgres.DB{MustOpenDBAt(t, dbURL, clk.Now), MustOpenDBAt(t, dbURL, clk.Now)}
	tn := MustCreateTenant(t, nodes[0], "acme")
	const total = 300
	ins := MustPurchase(t, nodes[0], tn.ID, total, true)
	periods := phonefleet.LifecyclePeriods{Grace: time.Hour, Retention: time.Hour}

	for _, step := range []struct {
		at time.Duration
		to string
	}{{0, "expired"}, {time.Hour, "frozen"}, {2 * time.Hour, "released"}} {
		clk.Set(ins[0].ExpiresAt.Add(step.at))
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for _, db := range append(nodes, nodes...) { // two sweepers per node
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Bounded: a sweep that never finished would stop here and
				// fail the count below, not hang.
				for range 10000 {
					done, err := db.SweepLifecycle(t.Context(), periods, 7)
					if err != nil {
						t.Errorf("SweepLifecycle: %v", err)
						return
					}
					mu.Lock()
					for _, tr := range done {
						if tr.Label() != step.to {
							t.Errorf("step %s of %s, want %s", tr.Label(), tr.InstanceID, step.to)
						}
						seen[tr.InstanceID]++
					}
					all := len(seen) == total
					mu.Unlock()
					if len(done) == 0 && all {
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, in := range ins {
			if seen[in.ID] != 1 {
				t.Fatalf("step %s of %s applied %d times, want once", step.to, in.ID, seen[in.ID])
			}
		}
	}
	events, err := nodes[1].FindAuditEvents(t.Context(), phonefleet.AuditFilter{TenantID: &tn.ID})
	if err != nil {
		t.Fatal(err)
	}
	system := 0
	for _, e := range events {
		if e.Actor == phonefleet.ActorSystem && slices.Contains([]string{phonefleet.ActionLifecycleExpire, phonefleet.ActionLifecycleFreeze, phonefleet.ActionLifecycleRelease}, e.Action) {
			system++
		}
	}
	if system != 3*total {
		t.Fatalf("%d system audit events, want %d", system, 3*total)
	}
}
