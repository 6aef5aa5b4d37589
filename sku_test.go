package phonefleet_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestSKU_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(s *phonefleet.SKU)
		word string // "" for valid; else a word the message must contain
	}{
		{"OK", func(s *phonefleet.SKU) {}, ""},
		{"OK/Enterprise", func(s *phonefleet.SKU) { s.Type = phonefleet.SKUTypeEnterprise }, ""},
		{"OK/ID64", func(s *phonefleet.SKU) { s.ID = strings.Repeat("k", 64) }, ""},
		{"OK/Name128", func(s *phonefleet.SKU) { s.Name = strings.Repeat("n", 128) }, ""},
		{"OK/BandSize10000", func(s *phonefleet.SKU) { s.BandSizes = []int{1, 10000} }, ""},
		{"ErrIDEmpty", func(s *phonefleet.SKU) { s.ID = "" }, "id"},
		{"ErrID65", func(s *phonefleet.SKU) { s.ID = strings.Repeat("k", 65) }, "id"},
		{"ErrIDSpace", func(s *phonefleet.SKU) { s.ID = "kp pro" }, "id"},
		{"ErrIDSlash", func(s *phonefleet.SKU) { s.ID = "kp/pro" }, "id"},
		{"ErrIDIsBandSKU", func(s *phonefleet.SKU) { s.ID = phonefleet.BandSKUID }, "id"},
		{"ErrTypeEmpty", func(s *phonefleet.SKU) { s.Type = "" }, "type"},
		{"ErrTypeLowercase", func(s *phonefleet.SKU) { s.Type = "professional" }, "type"},
		{"ErrNameEmpty", func(s *phonefleet.SKU) { s.Name = "" }, "name"},
		{"ErrName129", func(s *phonefleet.SKU) { s.Name = strings.Repeat("n", 129) }, "name"},
		{"ErrBandSizesNone", func(s *phonefleet.SKU) { s.BandSizes = nil }, "band"},
		{"ErrBandSizeZero", func(s *phonefleet.SKU) { s.BandSizes = []int{2, 0} }, "band"},
		{"ErrBandSize10001", func(s *phonefleet.SKU) { s.BandSizes = []int{10001} }, "band"},
		{"ErrRegionsNone", func(s *phonefleet.SKU) { s.Regions = nil }, "regions"},
		{"ErrRegionUppercase", func(s *phonefleet.SKU) { s.Regions = []string{"r-1", "CN-North-4"} }, "region"},
		{"ErrRegionUnderscore", func(s *phonefleet.SKU) { s.Regions = []string{"cn_north_4"} }, "region"},
		{"ErrRegionEmpty", func(s *phonefleet.SKU) { s.Regions = []string{""} }, "region"},
		{"ErrRegion65", func(s *phonefleet.SKU) { s.Regions = []string{strings.Repeat("r", 65)} }, "region"},
		{"ErrRegionTwice", func(s *phonefleet.SKU) { s.Regions = []string{"r-1", "r-2", "r-1"} }, "listed twice"},
		{"ErrMonthPriceZero", func(s *phonefleet.SKU) { s.MonthPrice = 0 }, "prices"},
		{"ErrYearPriceNegative", func(s *phonefleet.SKU) { s.YearPrice = -1 }, "prices"},
		{"ErrHourPriceZero", func(s *phonefleet.SKU) { s.HourPrice = 0 }, "prices"},
		{"ErrCurrencyEmpty", func(s *phonefleet.SKU) { s.Currency = "" }, "currency"},
		{"ErrCurrencyEUR", func(s *phonefleet.SKU) { s.Currency = "EUR" }, "currency"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := testSKU()
			tt.edit(s)
			err := s.Validate()
			if tt.word == "" {
				if err != nil {
					t.Fatalf("err=%v, want nil", err)
				}
				return
			}
			if code := phonefleet.ErrorCode(err); code != phonefleet.EInvalid {
				t.Fatalf("ErrorCode=%q, want %q (err %v)", code, phonefleet.EInvalid, err)
			}
			if msg := phonefleet.ErrorMessage(err); !NamesField(msg, tt.word) {
				t.Fatalf("ErrorMessage=%q, want it to name %q", msg, tt.word)
			}
		})
	}
}

func TestDefaultSKUs(t *testing.T) {
	skus := phonefleet.DefaultSKUs()
	if len(skus) == 0 {
		t.Fatal("DefaultSKUs is empty")
	}
	ids := map[string]bool{}
	for _, s := range skus {
		t.Run(s.ID, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if ids[s.ID] {
				t.Fatalf("ID %q repeated", s.ID)
			}
			ids[s.ID] = true
			if s.SpecDesc == "" || s.CalcSpec == "" || s.StorageSpec == "" || s.MaxResolution == "" {
				t.Fatalf("SKU %+v lacks the reference's display fields", s)
			}
			// A year costs less than twelve months.
			if s.YearPrice >= 12*s.MonthPrice {
				t.Fatalf("YearPrice=%d, want below 12 × MonthPrice=%d", s.YearPrice, 12*s.MonthPrice)
			}
			if !slices.IsSorted(s.BandSizes) {
				t.Fatalf("BandSizes=%v, want sorted", s.BandSizes)
			}
		})
	}

	t.Run("FreshCopies", func(t *testing.T) {
		a := phonefleet.DefaultSKUs()
		a[0].MonthPrice, a[0].Regions[0] = 1, "changed"
		b := phonefleet.DefaultSKUs()
		if b[0].MonthPrice == 1 || b[0].Regions[0] == "changed" {
			t.Fatalf("DefaultSKUs()[0]=%+v after a caller changed an earlier result", b[0])
		}
	})

	// A purchase of every default SKU in every region it offers plans.
	t.Run("Purchasable", func(t *testing.T) {
		for _, s := range skus {
			for _, region := range s.Regions {
				req := validPurchase()
				req.InstanceSKUID, req.RegionID, req.BandSize = s.ID, region, s.BandSizes[0]
				if err := req.Validate(); err != nil {
					t.Fatalf("%s in %s: Validate: %v", s.ID, region, err)
				}
				newID, _ := SeqIDs()
				if _, _, err := phonefleet.PlanPurchase(req, s, MustTime(t, "2024-06-15T00:00:00Z"), newID); err != nil {
					t.Fatalf("%s in %s: PlanPurchase: %v", s.ID, region, err)
				}
			}
		}
	})
}

func TestSKU_BandSizes(t *testing.T) {
	s := testSKU()
	if got := s.BandSizeList(); got != "2,4,8" {
		t.Fatalf("BandSizeList=%q, want 2,4,8", got)
	}
	if !s.OffersRegion("r-2") || s.OffersRegion("r-3") || s.OffersRegion("") {
		t.Fatalf("OffersRegion wrong for regions %v", s.Regions)
	}

	for _, tt := range []struct {
		in   string
		want []int
	}{
		{"2,4,8", []int{2, 4, 8}},
		{"8, 2,4,2", []int{2, 4, 8}},
		{"16", []int{16}},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := phonefleet.ParseBandSizes(tt.in)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseBandSizes(%q)=%v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "a", "2,,4", "2;4", "2.5"} {
		t.Run("Err/"+in, func(t *testing.T) {
			if _, err := phonefleet.ParseBandSizes(in); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("ParseBandSizes(%q) err=%v, want %s", in, err, phonefleet.EInvalid)
			}
		})
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		want  string
	}{{0, "0.00 USD"}, {5, "0.05 USD"}, {1990, "19.90 USD"}, {144319, "1443.19 USD"}, {-250, "-2.50 USD"}} {
		if got := phonefleet.FormatMoney(tc.minor, "USD"); got != tc.want {
			t.Fatalf("FormatMoney(%d)=%q, want %q", tc.minor, got, tc.want)
		}
	}
}
