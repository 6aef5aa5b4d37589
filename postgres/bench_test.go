package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// BenchmarkUnsubscribe measures unsubscribe requests of 10 running monthly
// instances each, sent in parallel (GOMAXPROCS goroutines × -cpu), each in
// its own transaction: lock, plan, 3 writes, audit, commit.
func BenchmarkUnsubscribe(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b, nil)
	acme := MustCreateTenant(b, db, "acme")

	const size = 10
	var ids []string
	for need := b.N * size; len(ids) < need; {
		for _, in := range MustPurchase(b, db, acme.ID, min(need-len(ids), phonefleet.MaxPurchaseCount), true) {
			ids = append(ids, in.ID)
		}
	}

	var next atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)-1) * size
			req := &phonefleet.UnsubscribeRequest{TenantID: acme.ID, RequestID: "bench", InstanceIDs: ids[i : i+size]}
			plan, err := db.Unsubscribe(ctx, req)
			if err != nil {
				b.Error(err)
				return
			} else if len(plan.Changes()) != size {
				b.Errorf("changes=%d, want %d", len(plan.Changes()), size)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "instances/s")
}
