package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// largeTenantSize is the big tenant of the fairness benchmarks: 300,000
// instances, 30,000 with -short.
func largeTenantSize() int {
	if testing.Short() {
		return 30_000
	}
	return 300_000
}

// mustBuyMany creates a tenant called name holding n pay-per-use
// instances, bought 1,500 at a time, and returns it with their IDs.
func mustBuyMany(b *testing.B, db *DB, name string, n int) (*phonefleet.Tenant, []string) {
	tn := &phonefleet.Tenant{Name: name}
	if err := db.CreateTenant(b.Context(), tn); err != nil {
		b.Fatal(err)
	}
	req := &phonefleet.PurchaseRequest{
		TenantID: tn.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: name, BandSize: 4, ChargingMode: phonefleet.ChargingModePayPerUse,
	}
	var ids []string
	for left := n; left > 0; left -= req.Count {
		req.Count = min(left, phonefleet.MaxPurchaseCount)
		_, ins, err := db.Purchase(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
	}
	return tn, ids
}

// BenchmarkBatchQueryLargeTenant lists pages of a tenant holding 300,000
// instances: page 1 and the last page of 1,000, the default listing a
// batch-query without filters runs.
func BenchmarkBatchQueryLargeTenant(b *testing.B) {
	n := largeTenantSize()
	db := mustOpenDBWith(b, filepath.Join(b.TempDir(), "phonefleet.db"), func(*DB) {})
	tn, _ := mustBuyMany(b, db, "big", n)
	for _, page := range []int{1, n / 1000} {
		name := "Page1"
		if page > 1 {
			name = "PageLast"
		}
		b.Run(name, func(b *testing.B) {
			f := phonefleet.InstanceFilter{TenantID: tn.ID, Limit: 1000, Offset: (page - 1) * 1000}
			var worst time.Duration
			for b.Loop() {
				start := time.Now()
				ins, total, err := db.FindInstances(b.Context(), f)
				if err != nil {
					b.Fatal(err)
				} else if len(ins) != 1000 || total != n {
					b.Fatalf("page %d: %d instances, total %d", page, len(ins), total)
				}
				worst = max(worst, time.Since(start))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}

// BenchmarkFairness measures a small tenant's status calls (10 IDs, for 3 s
// each) while
// idle and while a tenant of 300,000 instances pages through them at its
// full rate limit (100 requests/s, a page of 1,000 costing 10: 10 pages/s)
// and buys 1,500 instances every second, in the same run. It reports both
// p99s and their ratio (the target is at most 2).
func BenchmarkFairness(b *testing.B) {
	db := mustOpenDBWith(b, filepath.Join(b.TempDir(), "phonefleet.db"), func(*DB) {})
	n := largeTenantSize()
	big, _ := mustBuyMany(b, db, "big", n)
	small, ids := mustBuyMany(b, db, "small", 100)
	// Each phase makes status calls for 3 s, one after another.
	p99 := func() time.Duration {
		var lat []time.Duration
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			i := len(lat)
			start := time.Now()
			if _, err := db.FindInstanceStatuses(b.Context(), small.ID, ids[i%90:i%90+10]); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	for b.Loop() {
		idle := p99()

		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan struct{}, 2)
		go func() { // pages at the rate limit
			defer func() { done <- struct{}{} }()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for page := 0; ; page = (page + 1) % (n / 1000) {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: big.ID, Limit: 1000, Offset: page * 1000})
			}
		}()
		go func() { // a 1,500-instance purchase every second
			defer func() { done <- struct{}{} }()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			req := &phonefleet.PurchaseRequest{
				TenantID: big.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
				RegionID: "cn-north-4", NamePrefix: "more", BandSize: 4, Count: phonefleet.MaxPurchaseCount,
				ChargingMode: phonefleet.ChargingModePayPerUse,
			}
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				db.Purchase(ctx, req)
			}
		}()
		loaded := p99()
		cancel()
		<-done
		<-done

		b.ReportMetric(float64(idle.Microseconds())/1000, "idle-p99-ms")
		b.ReportMetric(float64(loaded.Microseconds())/1000, "loaded-p99-ms")
		b.ReportMetric(float64(loaded)/float64(idle), "ratio")
	}
}
