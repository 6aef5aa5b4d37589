package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func testSKU(t *testing.T, open Opener) {
	t.Run("DefaultCatalogue", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := phonefleet.DefaultSKUs()
		slices.SortFunc(want, func(a, b *phonefleet.SKU) int { return strings.Compare(a.ID, b.ID) })
		if len(got) != len(want) {
			t.Fatalf("len(SKUs)=%d, want %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("SKU[%d]=%+v, want %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("Create", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		sku := newSKU("kp.test.1u2g")
		if err := s.CreateSKU(t.Context(), sku); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(got, func(x *phonefleet.SKU) bool { return x.ID == sku.ID })
		if i < 0 {
			t.Fatalf("SKU %s not found after CreateSKU", sku.ID)
		} else if !reflect.DeepEqual(got[i], sku) {
			t.Fatalf("SKU=%+v, want %+v", got[i], sku)
		}
		if !slices.IsSortedFunc(got, func(a, b *phonefleet.SKU) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatal("SKUs not ordered by ID")
		}

		// A purchase can use the new SKU at its prices.
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 1)
		req.InstanceSKUID, req.RegionID, req.BandSize = sku.ID, "eu-west-1", 10
		if ins := mustPurchase(t, s, req); ins[0].PaidAmount != sku.MonthPrice || ins[0].SKUSpec != sku.SpecDesc {
			t.Fatalf("PaidAmount, SKUSpec=%d, %q, want %d, %q", ins[0].PaidAmount, ins[0].SKUSpec, sku.MonthPrice, sku.SpecDesc)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		err := s.CreateSKU(t.Context(), newSKU("kp.pro.2u4g"))
		wantCode(t, err, phonefleet.EConflict)
		if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, "kp.pro.2u4g") {
			t.Fatalf("message %q does not name the SKU", msg)
		}
	})

	t.Run("ErrRegionTwice", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		sku := newSKU("kp.test.twice")
		sku.Regions = []string{"eu-west-1", "us-east-1", "eu-west-1"}
		err := s.CreateSKU(t.Context(), sku)
		wantCode(t, err, phonefleet.EInvalid)
		if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, "eu-west-1") {
			t.Fatalf("message %q does not name the region", msg)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s, _ := mustOpen(t, open)
		sku := newSKU("kp.test.free")
		sku.MonthPrice = 0
		wantCode(t, s.CreateSKU(t.Context(), sku), phonefleet.EInvalid)
		got, err := s.FindSKUs(t.Context())
		if err != nil {
			t.Fatal(err)
		} else if len(got) != len(phonefleet.DefaultSKUs()) {
			t.Fatalf("len(SKUs)=%d after invalid CreateSKU, want %d", len(got), len(phonefleet.DefaultSKUs()))
		}
	})
}

// newSKU returns a valid SKU with sorted regions and band sizes.
func newSKU(id string) *phonefleet.SKU {
	return &phonefleet.SKU{
		ID: id, Type: phonefleet.SKUTypeEnterprise, Name: "Test edition",
		CalcSpec: "1 vCPU|2 GB", StorageSpec: "16 GB", MaxResolution: "480p",
		SpecDesc:  "Test edition | 1 vCPU | 2 GB | 16 GB storage | Maximum resolution: 480p",
		BandSizes: []int{5, 10}, Regions: []string{"eu-west-1", "us-east-1"},
		MonthPrice: 990, YearPrice: 9900, HourPrice: 2, Currency: phonefleet.Currency,
	}
}
