package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func testRefund(t *testing.T, open Opener) {
	t.Run("Find", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		aIDs := ids(mustPurchase(t, s, monthlyRequest(a.ID, 2)))
		bIDs := ids(mustPurchase(t, s, monthlyRequest(b.ID, 1)))
		clk.Add(time.Hour)
		mustUnsubscribe(t, s, b.ID, bIDs...)
		clk.Add(time.Hour)
		mustUnsubscribe(t, s, a.ID, aIDs...)
		slices.Sort(aIDs)

		all := mustFindRefunds(t, s)
		var got []string
		for _, r := range all {
			got = append(got, r.InstanceID)
		}
		wantIDs(t, "refunds by time, then ID", got, append(slices.Clone(bIDs), aIDs...))

		rs, err := s.FindRefunds(t.Context(), phonefleet.RefundFilter{TenantID: &a.ID})
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for _, r := range rs {
			if r.TenantID != a.ID {
				t.Fatalf("refund of tenant %s in tenant a's list", r.TenantID)
			}
			got = append(got, r.InstanceID)
		}
		wantIDs(t, "tenant a refunds", got, aIDs)
	})
}
