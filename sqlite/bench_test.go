package sqlite

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// benchSetup opens a database with one tenant and returns a purchase
// request for count monthly instances of it.
func benchSetup(b *testing.B, count int) (*DB, *phonefleet.PurchaseRequest) {
	b.Helper()
	return benchSetupWith(b, count, func(*DB) {})
}

// benchSetupWith is benchSetup with the DB's fields set by configure.
func benchSetupWith(b *testing.B, count int, configure func(*DB)) (*DB, *phonefleet.PurchaseRequest) {
	b.Helper()
	db := mustOpenDBWith(b, filepath.Join(b.TempDir(), "phonefleet.db"), configure)
	tn := &phonefleet.Tenant{Name: "bench"}
	if err := db.CreateTenant(b.Context(), tn); err != nil {
		b.Fatal(err)
	}
	return db, &phonefleet.PurchaseRequest{
		TenantID: tn.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "bench", BandSize: 4, Count: count,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
}

// processCPU returns the CPU time (user and system) the process used so far.
// Per operation it is steadier than wall time on a shared machine: another
// process's load slows this one down but costs it little CPU.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUnsubscribe measures one durable 10-instance unsubscribe
// (instances, refunds, release jobs and audit in one transaction).
func BenchmarkUnsubscribe(b *testing.B) {
	const batch = 10
	db, req := benchSetup(b, phonefleet.MaxPurchaseCount)
	ids := benchInstances(b, db, req, b.N*batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		plan, err := db.Unsubscribe(b.Context(), &phonefleet.UnsubscribeRequest{
			TenantID: req.TenantID, InstanceIDs: ids[i*batch : (i+1)*batch],
		})
		if err != nil {
			b.Fatal(err)
		} else if len(plan.Changes()) != batch {
			b.Fatalf("changed %d instances, want %d", len(plan.Changes()), batch)
		}
	}
}

// BenchmarkPurchase1500 measures the largest purchase: 1,500 instances, the
// order and the audit event in one transaction.
func BenchmarkPurchase1500(b *testing.B) {
	db, req := benchSetup(b, phonefleet.MaxPurchaseCount)
	b.ReportAllocs()
	for b.Loop() {
		if _, ins, err := db.Purchase(b.Context(), req); err != nil {
			b.Fatal(err)
		} else if len(ins) != phonefleet.MaxPurchaseCount {
			b.Fatalf("bought %d instances", len(ins))
		}
	}
}

// benchInstances buys at least n instances and returns their IDs.
func benchInstances(b *testing.B, db *DB, req *phonefleet.PurchaseRequest, n int) []string {
	b.Helper()
	var ids []string
	for len(ids) < n {
		_, ins, err := db.Purchase(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// BenchmarkUnsubscribeParallel measures durable 10-instance unsubscribes
// on distinct instances from 32 goroutines per CPU (64 here, as many as
// the HTTP load test's connections), with group commit and with one
// transaction per operation, in the same run.
func BenchmarkUnsubscribeParallel(b *testing.B) {
	const batch = 10
	for _, bc := range []struct {
		name        string
		groupCommit bool
	}{
		{"GroupCommit", true},
		{"OneTxPerOp", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var commits, ops atomic.Int64
			db, req := benchSetupWith(b, phonefleet.MaxPurchaseCount, func(db *DB) {
				db.GroupCommit = bc.groupCommit
				db.testHookCommit = func(n int) error { commits.Add(1); ops.Add(int64(n)); return nil }
			})
			ids := benchInstances(b, db, req, b.N*batch)
			commits.Store(0)
			ops.Store(0)
			var next atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1) - 1)
					plan, err := db.Unsubscribe(b.Context(), &phonefleet.UnsubscribeRequest{
						TenantID: req.TenantID, InstanceIDs: ids[i*batch : (i+1)*batch],
					})
					if err != nil {
						b.Error(err)
						return
					} else if len(plan.Changes()) != batch {
						b.Errorf("changed %d instances, want %d", len(plan.Changes()), batch)
						return
					}
				}
			})
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(ops.Load())/float64(c), "ops/commit")
			}
		})
	}
}

// BenchmarkWriter measures durable unsubscribes from 64 goroutines with
// group commit, one instance and 100 instances per request, in the same
// run: Parsed runs each unsubscribe on its own with every statement parsed
// anew (the baseline), Prepared does so with statements prepared once per
// connection, and Grouped also runs a batch's unsubscribes together (one
// read, one statement per table). Compare instances/s.
func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{1, 100} {
		for _, bc := range []struct {
			name               string
			noPrepare, noGroup bool
		}{
			{"Parsed", true, true},
			{"Prepared", false, true},
			{"Grouped", false, false},
		} {
			b.Run(fmt.Sprintf("Batch%d/%s", size, bc.name), func(b *testing.B) {
				db, req := benchSetupWith(b, phonefleet.MaxPurchaseCount, func(db *DB) {
					db.testNoStmtCache, db.testNoGroup = bc.noPrepare, bc.noGroup
				})
				ids := benchInstances(b, db, req, b.N*size)
				var next atomic.Int64
				b.SetParallelism(32)
				b.ResetTimer()
				start, cpu := time.Now(), processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(next.Add(1) - 1)
						plan, err := db.Unsubscribe(b.Context(), &phonefleet.UnsubscribeRequest{
							TenantID: req.TenantID, InstanceIDs: ids[i*size : (i+1)*size],
						})
						if err != nil {
							b.Error(err)
							return
						} else if len(plan.Changes()) != size {
							b.Errorf("changed %d instances, want %d", len(plan.Changes()), size)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "instances/s")
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N*size), "cpu-µs/instance")
			})
		}
	}
}
