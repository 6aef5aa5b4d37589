package sqlite

import (
	"testing"

	"github.com/phonefleet/phonefleet"
)

// benchSetup opens a database with one tenant and returns a purchase
// request for count monthly instances of it.
func benchSetup(b *testing.B, count int) (*DB, *phonefleet.PurchaseRequest) {
	b.Helper()
	db := MustOpenDB(b, nil)
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

// BenchmarkUnsubscribe measures one durable 10-instance unsubscribe
// (instances, refunds, release jobs and audit in one transaction).
func BenchmarkUnsubscribe(b *testing.B) {
	const batch = 10
	db, req := benchSetup(b, phonefleet.MaxPurchaseCount)
	var ids []string
	for len(ids) < b.N*batch {
		_, ins, err := db.Purchase(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
	}
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
