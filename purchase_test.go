package phonefleet_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// NamesField reports whether msg names field as a whole word.
func NamesField(msg, field string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(field) + `\b`).MatchString(msg)
}

// validPurchase returns a request that passes Validate: 2 monthly instances
// for one month.
func validPurchase() *phonefleet.PurchaseRequest {
	return &phonefleet.PurchaseRequest{
		TenantID: "t1", TokenID: "tk1", RequestID: "req-1",
		OS: "AOSP11", InstanceSKUID: "kp.test", BandSKUID: phonefleet.BandSKUID, RegionID: "r-1",
		NamePrefix: "phone", BandSize: 4, Count: 2,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
}

func TestPurchaseRequest_Validate(t *testing.T) {
	id64 := strings.Repeat("k", 64)
	for _, tt := range []struct {
		name  string
		edit  func(r *phonefleet.PurchaseRequest)
		code  string // "" for success
		field string
	}{
		{"OK", func(r *phonefleet.PurchaseRequest) {}, "", ""},
		{"OK/AOSP9", func(r *phonefleet.PurchaseRequest) { r.OS = "AOSP9" }, "", ""},
		{"OK/AOSP14", func(r *phonefleet.PurchaseRequest) { r.OS = "AOSP14" }, "", ""},
		{"OK/CatalogueIDs64", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID, r.BandSKUID, r.RegionID = id64, id64, id64 }, "", ""},
		{"OK/Prefix1", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "a" }, "", ""},
		{"OK/Prefix14", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "abcdefghijklmn" }, "", ""},
		{"OK/Prefix14Multibyte", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = strings.Repeat("手", 14) }, "", ""}, // 42 bytes
		{"OK/Count1", func(r *phonefleet.PurchaseRequest) { r.Count = 1 }, "", ""},
		{"OK/Count1500", func(r *phonefleet.PurchaseRequest) { r.Count = 1500 }, "", ""},
		{"OK/Month9", func(r *phonefleet.PurchaseRequest) { r.PeriodNum = 9 }, "", ""},
		{"OK/Year1", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum = phonefleet.PeriodTypeYear, 1 }, "", ""},
		{"OK/Year3", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum = phonefleet.PeriodTypeYear, 3 }, "", ""},
		{"OK/PayPerUseNoPeriod", func(r *phonefleet.PurchaseRequest) { r.ChargingMode, r.PeriodType, r.PeriodNum = 0, 0, 0 }, "", ""},
		{"OK/PayPerUseIgnoresPeriod", func(r *phonefleet.PurchaseRequest) { r.ChargingMode, r.PeriodType, r.PeriodNum = 0, 7, 99 }, "", ""},

		{"ErrOSRequired", func(r *phonefleet.PurchaseRequest) { r.OS = "" }, phonefleet.EOSRequired, "os"},
		{"ErrOSLowercase", func(r *phonefleet.PurchaseRequest) { r.OS = "aosp11" }, phonefleet.EInvalid, "os"},
		{"ErrOSUnknown", func(r *phonefleet.PurchaseRequest) { r.OS = "AOSP10" }, phonefleet.EInvalid, "os"},
		{"ErrInstanceSKUEmpty", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID = "" }, phonefleet.EInvalid, "instanceSkuId"},
		{"ErrInstanceSKU65", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID = id64 + "k" }, phonefleet.EInvalid, "instanceSkuId"},
		{"ErrBandSKUEmpty", func(r *phonefleet.PurchaseRequest) { r.BandSKUID = "" }, phonefleet.EInvalid, "bandSkuId"},
		{"ErrBandSKU65", func(r *phonefleet.PurchaseRequest) { r.BandSKUID = id64 + "k" }, phonefleet.EInvalid, "bandSkuId"},
		{"ErrRegionEmpty", func(r *phonefleet.PurchaseRequest) { r.RegionID = "" }, phonefleet.EInvalid, "regionId"},
		{"ErrRegion65", func(r *phonefleet.PurchaseRequest) { r.RegionID = id64 + "k" }, phonefleet.EInvalid, "regionId"},
		{"ErrPrefixEmpty", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "" }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrPrefix15", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "abcdefghijklmno" }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrPrefix15Multibyte", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = strings.Repeat("手", 15) }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrPrefixInvalidUTF8", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "ab\xff" }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrPrefixSpace", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "my phone" }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrPrefixControl", func(r *phonefleet.PurchaseRequest) { r.NamePrefix = "ab\x00" }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"ErrBandSizeZero", func(r *phonefleet.PurchaseRequest) { r.BandSize = 0 }, phonefleet.EInvalid, "bandSize"},
		{"ErrBandSizeNegative", func(r *phonefleet.PurchaseRequest) { r.BandSize = -4 }, phonefleet.EInvalid, "bandSize"},
		{"ErrCount0", func(r *phonefleet.PurchaseRequest) { r.Count = 0 }, phonefleet.EInvalid, "count"},
		{"ErrCountNegative", func(r *phonefleet.PurchaseRequest) { r.Count = -1 }, phonefleet.EInvalid, "count"},
		{"ErrCount1501", func(r *phonefleet.PurchaseRequest) { r.Count = 1501 }, phonefleet.EInvalid, "count"},
		{"ErrChargingMode2", func(r *phonefleet.PurchaseRequest) { r.ChargingMode = 2 }, phonefleet.EInvalid, "chargingMode"},
		{"ErrChargingModeNegative", func(r *phonefleet.PurchaseRequest) { r.ChargingMode = -1 }, phonefleet.EInvalid, "chargingMode"},
		{"ErrPeriodTypeMissing", func(r *phonefleet.PurchaseRequest) { r.PeriodType = 0 }, phonefleet.EInvalid, "periodType"},
		{"ErrPeriodType1", func(r *phonefleet.PurchaseRequest) { r.PeriodType = 1 }, phonefleet.EInvalid, "periodType"},
		{"ErrPeriodType4", func(r *phonefleet.PurchaseRequest) { r.PeriodType = 4 }, phonefleet.EInvalid, "periodType"},
		{"ErrMonth0", func(r *phonefleet.PurchaseRequest) { r.PeriodNum = 0 }, phonefleet.EMonthPeriod, "periodNum"},
		{"ErrMonth10", func(r *phonefleet.PurchaseRequest) { r.PeriodNum = 10 }, phonefleet.EMonthPeriod, "periodNum"},
		{"ErrMonthNegative", func(r *phonefleet.PurchaseRequest) { r.PeriodNum = -1 }, phonefleet.EMonthPeriod, "periodNum"},
		{"ErrYear0", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum = phonefleet.PeriodTypeYear, 0 }, phonefleet.EYearPeriod, "periodNum"},
		{"ErrYear4", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum = phonefleet.PeriodTypeYear, 4 }, phonefleet.EYearPeriod, "periodNum"},
		{"ErrYear9", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum = phonefleet.PeriodTypeYear, 9 }, phonefleet.EYearPeriod, "periodNum"},

		// Several faults: the first field in order answers.
		{"Order/OSMissingFirst", func(r *phonefleet.PurchaseRequest) {
			*r = phonefleet.PurchaseRequest{PeriodType: 9, PeriodNum: 99, Count: -1}
		}, phonefleet.EOSRequired, "os"},
		{"Order/OSBeforeCount", func(r *phonefleet.PurchaseRequest) { r.OS, r.Count = "Android", 0 }, phonefleet.EInvalid, "os"},
		{"Order/InstanceSKUBeforeRegion", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID, r.RegionID = "", "" }, phonefleet.EInvalid, "instanceSkuId"},
		{"Order/BandSKUBeforeRegion", func(r *phonefleet.PurchaseRequest) { r.BandSKUID, r.RegionID = "", "" }, phonefleet.EInvalid, "bandSkuId"},
		{"Order/RegionBeforePrefix", func(r *phonefleet.PurchaseRequest) { r.RegionID, r.NamePrefix = "", "" }, phonefleet.EInvalid, "regionId"},
		{"Order/PrefixBeforeBandSize", func(r *phonefleet.PurchaseRequest) { r.NamePrefix, r.BandSize = "", 0 }, phonefleet.EInvalid, "instanceNamePrefix"},
		{"Order/BandSizeBeforeCount", func(r *phonefleet.PurchaseRequest) { r.BandSize, r.Count = 0, 0 }, phonefleet.EInvalid, "bandSize"},
		{"Order/CountBeforeMonth", func(r *phonefleet.PurchaseRequest) { r.Count, r.PeriodNum = 1501, 10 }, phonefleet.EInvalid, "count"},
		{"Order/ChargingModeBeforePeriod", func(r *phonefleet.PurchaseRequest) { r.ChargingMode, r.PeriodNum = 5, 10 }, phonefleet.EInvalid, "chargingMode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := validPurchase()
			tt.edit(r)
			err := r.Validate()
			if got := phonefleet.ErrorCode(err); got != tt.code {
				t.Fatalf("ErrorCode=%q, want %q (err %v)", got, tt.code, err)
			}
			if msg := phonefleet.ErrorMessage(err); tt.code != "" && !NamesField(msg, tt.field) {
				t.Fatalf("ErrorMessage=%q, want it to name %q", msg, tt.field)
			}
		})
	}
}

func TestPurchaseRequest_BillingMode(t *testing.T) {
	for _, tt := range []struct {
		mode, periodType int
		want             phonefleet.BillingMode
	}{
		{0, 0, phonefleet.BillingModePayPerUse},
		{0, 3, phonefleet.BillingModePayPerUse},
		{1, 2, phonefleet.BillingModeMonthly},
		{1, 3, phonefleet.BillingModeYearly},
	} {
		t.Run(fmt.Sprintf("%d/%d", tt.mode, tt.periodType), func(t *testing.T) {
			r := &phonefleet.PurchaseRequest{ChargingMode: tt.mode, PeriodType: tt.periodType}
			if got := r.BillingMode(); got != tt.want {
				t.Fatalf("BillingMode=%q, want %q", got, tt.want)
			}
		})
	}
}

// testSKU is a SKU with round prices: 1000 a month, 10000 a year.
func testSKU() *phonefleet.SKU {
	return &phonefleet.SKU{
		ID: "kp.test", Type: phonefleet.SKUTypeProfessional, Name: "Test", SpecDesc: "Test | 1 vCPU",
		BandSizes: []int{2, 4, 8}, Regions: []string{"r-1", "r-2"},
		MonthPrice: 1000, YearPrice: 10000, HourPrice: 2, Currency: phonefleet.Currency,
	}
}

// SeqIDs returns an ID generator yielding id-1, id-2, … and a counter of calls.
func SeqIDs() (func() string, *int) {
	n := new(int)
	return func() string { *n++; return fmt.Sprintf("id-%d", *n) }, n
}

func TestPlanPurchase_OK(t *testing.T) {
	for _, tt := range []struct {
		name        string
		edit        func(r *phonefleet.PurchaseRequest)
		now         time.Time
		mode        phonefleet.BillingMode
		periodNum   int
		unit, total int64
		expires     string // "" for none
	}{
		// 1000 × 1 month; 2 instances = 2000. 2024-01-31 + 1 month = "2024-02-31" = 2024-03-02.
		{"Monthly1/EndOfMonth", func(r *phonefleet.PurchaseRequest) {}, time.Date(2024, 1, 31, 12, 0, 0, 0, time.UTC),
			phonefleet.BillingModeMonthly, 1, 1000, 2000, "2024-03-02T12:00:00Z"},
		// 1000 × 3 months = 3000; count 5 = 15000. 2024-01-31 10:30 +08:00 is 02:30 UTC;
		// + 3 months = "2024-04-31" = 2024-05-01 02:30 UTC.
		{"Monthly3/OtherZone", func(r *phonefleet.PurchaseRequest) { r.PeriodNum, r.Count = 3, 5 },
			time.Date(2024, 1, 31, 10, 30, 0, 0, time.FixedZone("CST", 8*3600)),
			phonefleet.BillingModeMonthly, 3, 3000, 15000, "2024-05-01T02:30:00Z"},
		// 1000 × 9 = 9000; 2024-06-15 + 9 months = 2025-03-15.
		{"Monthly9", func(r *phonefleet.PurchaseRequest) { r.PeriodNum, r.Count = 9, 1 }, time.Date(2024, 6, 15, 8, 5, 9, 0, time.UTC),
			phonefleet.BillingModeMonthly, 9, 9000, 9000, "2025-03-15T08:05:09Z"},
		// 10000 × 1 year; 2024-06-15 + 1 year = 2025-06-15.
		{"Yearly1", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum, r.Count = 3, 1, 1 }, time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC),
			phonefleet.BillingModeYearly, 1, 10000, 10000, "2025-06-15T00:00:00Z"},
		// 10000 × 2 = 20000; 3 instances = 60000. 2024-02-29 + 2 years = "2026-02-29" = 2026-03-01.
		{"Yearly2/LeapDay", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum, r.Count = 3, 2, 3 }, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
			phonefleet.BillingModeYearly, 2, 20000, 60000, "2026-03-01T12:00:00Z"},
		// 10000 × 3 = 30000.
		{"Yearly3", func(r *phonefleet.PurchaseRequest) { r.PeriodType, r.PeriodNum, r.Count = 3, 3, 1 }, time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC),
			phonefleet.BillingModeYearly, 3, 30000, 30000, "2027-06-15T00:00:00Z"},
		// Pay-per-use: nothing up front, no period, no expiry.
		{"PayPerUse", func(r *phonefleet.PurchaseRequest) { r.ChargingMode, r.PeriodType, r.PeriodNum = 0, 0, 0 }, time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC),
			phonefleet.BillingModePayPerUse, 0, 0, 0, ""},
		// A pay-per-use request's stray period is ignored.
		{"PayPerUseStrayPeriod", func(r *phonefleet.PurchaseRequest) { r.ChargingMode, r.PeriodType, r.PeriodNum = 0, 3, 2 }, time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC),
			phonefleet.BillingModePayPerUse, 0, 0, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := validPurchase()
			req.AutoPay, req.AutoRenew = true, false
			tt.edit(req)
			newID, calls := SeqIDs()
			o, ins, err := phonefleet.PlanPurchase(req, testSKU(), tt.now, newID)
			if err != nil {
				t.Fatal(err)
			}
			now := tt.now.UTC()

			if !regexp.MustCompile(`^CS` + now.Format("0601021504") + `[A-Z0-9]{6}$`).MatchString(o.ID) {
				t.Fatalf("Order.ID=%q, want CS%s + 6 of [A-Z0-9]", o.ID, now.Format("0601021504"))
			}
			if o.TenantID != "t1" || o.SKUID != "kp.test" || o.RegionID != "r-1" || o.OS != "AOSP11" || o.BandSize != 4 ||
				o.RequestID != "req-1" || o.Currency != "USD" || !o.AutoPay || o.AutoRenew {
				t.Fatalf("Order=%+v: fields not copied from the request", o)
			}
			if o.BillingMode != tt.mode || o.PeriodNum != tt.periodNum || o.Count != req.Count {
				t.Fatalf("Order mode/period/count=%s/%d/%d, want %s/%d/%d", o.BillingMode, o.PeriodNum, o.Count, tt.mode, tt.periodNum, req.Count)
			}
			if o.UnitPrice != tt.unit || o.Total != tt.total {
				t.Fatalf("Order unit/total=%d/%d, want %d/%d", o.UnitPrice, o.Total, tt.unit, tt.total)
			}
			if !o.CreatedAt.Equal(now) || o.CreatedAt.Location() != time.UTC {
				t.Fatalf("Order.CreatedAt=%v, want %v in UTC", o.CreatedAt, now)
			}

			if len(ins) != req.Count || *calls != req.Count {
				t.Fatalf("len(instances)=%d, newID calls=%d, want %d", len(ins), *calls, req.Count)
			}
			for i, in := range ins {
				if want := fmt.Sprintf("id-%d", i+1); in.ID != want {
					t.Fatalf("instances[%d].ID=%q, want %q", i, in.ID, want)
				}
				if want := fmt.Sprintf("phone-%04d", i+1); in.Name != want {
					t.Fatalf("instances[%d].Name=%q, want %q", i, in.Name, want)
				}
				if in.TenantID != "t1" || in.OrderID != o.ID || in.RegionID != "r-1" || in.SKUID != "kp.test" || in.SKUSpec != "Test | 1 vCPU" ||
					in.OS != "AOSP11" || in.BandSize != 4 || in.Currency != "USD" || in.State != phonefleet.InstanceStateRunning {
					t.Fatalf("instances[%d]=%+v: fields not copied", i, in)
				}
				if in.BillingMode != tt.mode || in.PeriodNum != tt.periodNum || in.PaidAmount != tt.unit {
					t.Fatalf("instances[%d] mode/period/paid=%s/%d/%d, want %s/%d/%d", i, in.BillingMode, in.PeriodNum, in.PaidAmount, tt.mode, tt.periodNum, tt.unit)
				}
				if !in.StartsAt.Equal(now) || in.StartsAt.Location() != time.UTC || !in.CreatedAt.Equal(now) {
					t.Fatalf("instances[%d] StartsAt/CreatedAt=%v/%v, want %v UTC", i, in.StartsAt, in.CreatedAt, now)
				}
				switch {
				case tt.expires == "" && in.ExpiresAt != nil:
					t.Fatalf("instances[%d].ExpiresAt=%v, want nil", i, in.ExpiresAt)
				case tt.expires != "" && (in.ExpiresAt == nil || !in.ExpiresAt.Equal(MustTime(t, tt.expires))):
					t.Fatalf("instances[%d].ExpiresAt=%v, want %s", i, in.ExpiresAt, tt.expires)
				}
			}
		})
	}
}

func TestPlanPurchase_Names(t *testing.T) {
	newID, _ := SeqIDs()
	req := validPurchase()
	req.NamePrefix, req.Count = "手机", 1500
	_, ins, err := phonefleet.PlanPurchase(req, testSKU(), time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC), newID)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{0: "手机-0001", 9: "手机-0010", 999: "手机-1000", 1499: "手机-1500"} {
		if got := ins[i].Name; got != want {
			t.Fatalf("instances[%d].Name=%q, want %q", i, got, want)
		}
	}
}

func TestPlanPurchase_Errors(t *testing.T) {
	now := time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		noSKU bool
		edit  func(r *phonefleet.PurchaseRequest)
		code  string
		field string
	}{
		{"ErrUnknownSKU", true, func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID = "kp.nosuch" }, phonefleet.ESKUNotFound, "instanceSkuId"},
		{"ErrUnknownBandSKU", false, func(r *phonefleet.PurchaseRequest) { r.BandSKUID = "kp.band.other" }, phonefleet.ESKUNotFound, "bandSkuId"},
		{"ErrRegionNotOffered", false, func(r *phonefleet.PurchaseRequest) { r.RegionID = "r-3" }, phonefleet.ESKUNotFound, "regionId"},
		{"ErrBandSizeNotOffered", false, func(r *phonefleet.PurchaseRequest) { r.BandSize = 16 }, phonefleet.EInvalid, "bandSize"},
		// Order: SKU, band SKU, region, band size.
		{"Order/SKUBeforeBandSKU", true, func(r *phonefleet.PurchaseRequest) { r.BandSKUID, r.RegionID, r.BandSize = "x", "r-3", 16 }, phonefleet.ESKUNotFound, "instanceSkuId"},
		{"Order/BandSKUBeforeRegion", false, func(r *phonefleet.PurchaseRequest) { r.BandSKUID, r.RegionID, r.BandSize = "x", "r-3", 16 }, phonefleet.ESKUNotFound, "bandSkuId"},
		{"Order/RegionBeforeBandSize", false, func(r *phonefleet.PurchaseRequest) { r.RegionID, r.BandSize = "r-3", 16 }, phonefleet.ESKUNotFound, "regionId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := validPurchase()
			tt.edit(req)
			sku := testSKU()
			if tt.noSKU {
				sku = nil
			}
			newID, calls := SeqIDs()
			o, ins, err := phonefleet.PlanPurchase(req, sku, now, newID)
			if got := phonefleet.ErrorCode(err); got != tt.code {
				t.Fatalf("ErrorCode=%q, want %q (err %v)", got, tt.code, err)
			}
			if msg := phonefleet.ErrorMessage(err); !NamesField(msg, tt.field) {
				t.Fatalf("ErrorMessage=%q, want it to name %q", msg, tt.field)
			}
			if o != nil || ins != nil || *calls != 0 {
				t.Fatalf("order=%v instances=%d newID calls=%d, want nothing on error", o, len(ins), *calls)
			}
		})
	}

	// Business time ends with year 9999 (the test clock can go there): a
	// subscription that would end later is refused; pay-per-use has no end.
	t.Run("ErrEndsAfter9999", func(t *testing.T) {
		late := time.Date(9999, 12, 15, 0, 0, 0, 0, time.UTC)
		req := validPurchase()
		newID, calls := SeqIDs()
		o, _, err := phonefleet.PlanPurchase(req, testSKU(), late, newID)
		if phonefleet.ErrorCode(err) != phonefleet.EInvalid || !NamesField(phonefleet.ErrorMessage(err), "chargeParam.periodNum") || o != nil || *calls != 0 {
			t.Fatalf("PlanPurchase at %v: %v, %v; want 1000 naming chargeParam.periodNum", late, o, err)
		}
		req.ChargingMode, req.PeriodType, req.PeriodNum = phonefleet.ChargingModePayPerUse, 0, 0
		if _, ins, err := phonefleet.PlanPurchase(req, testSKU(), late, newID); err != nil || !ins[0].StartsAt.Equal(late) {
			t.Fatalf("pay-per-use at %v: %v", late, err)
		}
	})

	t.Run("BandSizeMessageListsAllowed", func(t *testing.T) {
		req := validPurchase()
		req.BandSize = 3
		_, _, err := phonefleet.PlanPurchase(req, testSKU(), now, func() string { return "x" })
		if msg := phonefleet.ErrorMessage(err); !strings.Contains(msg, "2,4,8") {
			t.Fatalf("ErrorMessage=%q, want the allowed sizes 2,4,8", msg)
		}
	})
}

func TestNewOrderID(t *testing.T) {
	now := time.Date(2024, 1, 2, 15, 4, 5, 0, time.FixedZone("X", -5*3600)) // 20:04 UTC
	re := regexp.MustCompile(`^CS2401022004[A-Z0-9]{6}$`)
	seen := map[string]bool{}
	for range 200 {
		id := phonefleet.NewOrderID(now)
		if !re.MatchString(id) {
			t.Fatalf("NewOrderID=%q, want %s", id, re)
		}
		if seen[id] {
			t.Fatalf("NewOrderID repeated %q", id)
		}
		seen[id] = true
	}
}

// TestPurchaseRequest_Digest: the digest covers every parameter and the
// extra members, and nothing about who asks.
func TestPurchaseRequest_Digest(t *testing.T) {
	base := validPurchase()
	base.Extra = `{"body":{"clientTag":"x"}}`
	want := base.Digest()
	if len(want) != 64 {
		t.Fatalf("Digest()=%q, want 64 hex digits", want)
	}
	same := *base
	same.TenantID, same.TokenID, same.UserName, same.RequestID = "other", "tk2", "bob", "another-id"
	if got := same.Digest(); got != want {
		t.Fatalf("Digest with another caller=%s, want %s", got, want)
	}
	for _, tc := range []struct {
		name string
		mut  func(*phonefleet.PurchaseRequest)
	}{
		{"OS", func(r *phonefleet.PurchaseRequest) { r.OS = "AOSP14" }},
		{"InstanceSKUID", func(r *phonefleet.PurchaseRequest) { r.InstanceSKUID += "x" }},
		{"BandSKUID", func(r *phonefleet.PurchaseRequest) { r.BandSKUID += "x" }},
		{"RegionID", func(r *phonefleet.PurchaseRequest) { r.RegionID += "x" }},
		{"NamePrefix", func(r *phonefleet.PurchaseRequest) { r.NamePrefix += "x" }},
		{"BandSize", func(r *phonefleet.PurchaseRequest) { r.BandSize++ }},
		{"Count", func(r *phonefleet.PurchaseRequest) { r.Count++ }},
		{"ChargingMode", func(r *phonefleet.PurchaseRequest) { r.ChargingMode = 1 - r.ChargingMode }},
		{"PeriodType", func(r *phonefleet.PurchaseRequest) { r.PeriodType++ }},
		{"PeriodNum", func(r *phonefleet.PurchaseRequest) { r.PeriodNum++ }},
		{"AutoPay", func(r *phonefleet.PurchaseRequest) { r.AutoPay = !r.AutoPay }},
		{"AutoRenew", func(r *phonefleet.PurchaseRequest) { r.AutoRenew = !r.AutoRenew }},
		{"Extra", func(r *phonefleet.PurchaseRequest) { r.Extra = "" }},
		// A value moved from one field to its neighbour is another request.
		{"Shift", func(r *phonefleet.PurchaseRequest) { r.RegionID, r.NamePrefix = r.RegionID+r.NamePrefix, "" }},
	} {
		r := *base
		tc.mut(&r)
		if r.Digest() == want {
			t.Errorf("%s changed: the digest stayed %s", tc.name, want)
		}
	}
}

func TestCheckPurchaseRetry(t *testing.T) {
	req := validPurchase()
	req.RequestID = "buy-1"
	for _, tc := range []struct {
		name, digest string
		want         string // error message; "" for nil
	}{
		{"Same", req.Digest(), ""},
		{"NoDigest", "", ""}, // an order made before digests were stored
		{"Different", strings.Repeat("0", 64), "X-Request-Id buy-1 was used for a different purchase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := phonefleet.CheckPurchaseRetry(req, &phonefleet.Order{RequestID: "buy-1", RequestDigest: tc.digest})
			if tc.want == "" && err != nil {
				t.Fatalf("CheckPurchaseRetry=%v, want nil", err)
			} else if tc.want != "" && (phonefleet.ErrorCode(err) != phonefleet.EInvalid || phonefleet.ErrorMessage(err) != tc.want) {
				t.Fatalf("CheckPurchaseRetry=%v, want %s %q", err, phonefleet.EInvalid, tc.want)
			}
		})
	}
}
