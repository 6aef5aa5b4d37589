package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// BenchmarkBatchQueryLargeTenant lists pages of a tenant holding 300,000
// instances (set up once; -short uses 30,000): page 1 and page 300 of
// 1,000, the default listing a batch-query without filters runs.
func BenchmarkBatchQueryLargeTenant(b *testing.B) {
	n := 300_000
	if testing.Short() {
		n = 30_000
	}
	db := mustOpenDBWith(b, filepath.Join(b.TempDir(), "phonefleet.db"), func(*DB) {})
	tn := &phonefleet.Tenant{Name: "big"}
	if err := db.CreateTenant(b.Context(), tn); err != nil {
		b.Fatal(err)
	}
	req := &phonefleet.PurchaseRequest{
		TenantID: tn.ID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "big", BandSize: 4, Count: phonefleet.MaxPurchaseCount,
		ChargingMode: phonefleet.ChargingModePayPerUse,
	}
	for left := n; left > 0; left -= req.Count {
		req.Count = min(left, phonefleet.MaxPurchaseCount)
		if _, _, err := db.Purchase(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	for _, page := range []int{1, n / 1000} {
		b.Run("Page"+itoaPage(page), func(b *testing.B) {
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

func itoaPage(n int) string {
	if n == 1 {
		return "1"
	}
	return "Last"
}
