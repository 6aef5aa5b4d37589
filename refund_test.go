package phonefleet_test

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// MustTime parses an RFC 3339 time or fails the test.
func MustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatalf("parse time %q: %v", s, err)
	}
	return t
}

// NewPrepaid returns a running yearly or monthly instance paid paid, from
// start to expires (RFC 3339).
func NewPrepaid(tb testing.TB, mode phonefleet.BillingMode, periodNum int, paid int64, start, expires string) *phonefleet.Instance {
	tb.Helper()
	exp := MustTime(tb, expires)
	return &phonefleet.Instance{
		ID: "i1", TenantID: "t1", OrderID: "o1", BillingMode: mode, PeriodNum: periodNum,
		PaidAmount: paid, Currency: phonefleet.Currency, StartsAt: MustTime(tb, start), ExpiresAt: &exp,
		State: phonefleet.InstanceStateRunning,
	}
}

// CheckRefund fails the test unless r has the given money fields.
func CheckRefund(tb testing.TB, r phonefleet.Refund, paid, consumed, fee, amount int64) {
	tb.Helper()
	if r.Paid != paid || r.Consumed != consumed || r.Fee != fee || r.Amount != amount {
		tb.Fatalf("Refund paid/consumed/fee/amount=%d/%d/%d/%d, want %d/%d/%d/%d",
			r.Paid, r.Consumed, r.Fee, r.Amount, paid, consumed, fee, amount)
	}
}

func TestComputeRefund_FullRefundWindow(t *testing.T) {
	// Monthly, 1990 paid, 2024-03-01 10:30 → 2024-04-01 10:30. Five days after
	// the start is 2024-03-06 10:30:00.
	in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T10:30:00Z", "2024-04-01T10:30:00Z")
	for _, tt := range []struct {
		name                        string
		now                         string
		paid, consumed, fee, amount int64
	}{
		{"BeforeStart", "2024-03-01T09:00:00Z", 1990, 0, 0, 1990},
		{"AtStart", "2024-03-01T10:30:00Z", 1990, 0, 0, 1990},
		{"119h59m", "2024-03-06T10:29:00Z", 1990, 0, 0, 1990},
		{"119h59m59s", "2024-03-06T10:29:59Z", 1990, 0, 0, 1990},
		{"Exactly120h", "2024-03-06T10:30:00Z", 1990, 0, 0, 1990},
		// 120 h + 1 s: prorated. Start counts from 10:00; the period ends at
		// 2024-04-01 10:30, whose hour counts in full: 10:00 → 11:00 a month
		// later = 31 d 1 h = 745 h. Now 10:30:01 counts as 10:00: 5 d = 120 h.
		// consumed = 1990 × 120 / 745 = 238800 / 745 = 320 (745 × 320 = 238400)
		// fee = 10% of 1990 = 199; amount = 1990 − 320 − 199 = 1471.
		{"120hPlus1s", "2024-03-06T10:30:01Z", 1990, 320, 199, 1471},
	} {
		t.Run(tt.name, func(t *testing.T) {
			CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, tt.now)), tt.paid, tt.consumed, tt.fee, tt.amount)
		})
	}
}

func TestComputeRefund_WholeHours(t *testing.T) {
	// Monthly, 3000 paid, expiring 2024-04-01 00:00: from 2024-03-01 10:00
	// the period is 31 d − 10 h = 744 − 10 = 734 h whatever the minute of the
	// start within the 10:00 hour.
	for _, start := range []string{"2024-03-01T10:00:00Z", "2024-03-01T10:30:00Z", "2024-03-01T10:59:59Z"} {
		in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 3000, start, "2024-04-01T00:00:00Z")
		for _, tt := range []struct {
			now                   string
			consumed, fee, amount int64
		}{
			// 10:00 → 2024-03-11 18:00 = 10 d 8 h = 248 h.
			// consumed = 3000 × 248 / 734 = 744000 / 734 = 1013 (734 × 1013 = 743542)
			// amount = 3000 − 1013 − 300 = 1687.
			{"2024-03-11T18:00:00Z", 1013, 300, 1687},
			{"2024-03-11T18:40:00Z", 1013, 300, 1687}, // 18:40 counts as 18:00
			{"2024-03-11T18:59:59Z", 1013, 300, 1687},
			// 19:00: 249 h. consumed = 3000 × 249 / 734 = 747000 / 734 = 1017
			// (734 × 1017 = 746478); amount = 3000 − 1017 − 300 = 1683.
			{"2024-03-11T19:00:00Z", 1017, 300, 1683},
		} {
			t.Run(start+"/"+tt.now, func(t *testing.T) {
				CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, tt.now)), 3000, tt.consumed, tt.fee, tt.amount)
			})
		}
	}
}

func TestComputeRefund_HuaweiExample(t *testing.T) {
	// Huawei Cloud's worked example: a monthly order bought 2024-01-01 10:30
	// and expiring 2024-02-01 23:59:59 lasts 31 d 14 h; unsubscribed
	// 2024-01-15 18:40 it has been used for 14 d 8 h.
	in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 10000, "2024-01-01T10:30:00Z", "2024-02-01T23:59:59Z")
	got := phonefleet.ComputeRefund(in, MustTime(t, "2024-01-15T18:40:00Z"))

	// period = 2024-01-01 10:00 → 2024-02-02 00:00 = 31 d 14 h = 31×24 + 14 = 758 h
	// used   = 2024-01-01 10:00 → 2024-01-15 18:00 = 14 d 8 h = 14×24 + 8  = 344 h
	// consumed = 10000 × 344 / 758 = 3440000 / 758 = 4538 (758 × 4538 = 3439804, remainder 196)
	//            (a 757 h period would give 3440000 / 757 = 4544)
	// fee      = 10% of 10000 = 1000
	// amount   = 10000 − 4538 − 1000 = 4462
	CheckRefund(t, got, 10000, 4538, 1000, 4462)
}

func TestComputeRefund_PeriodEnd(t *testing.T) {
	// The hour in which the period ends counts in full, like 23:59:59 in
	// Huawei's example; an expiry on the hour adds nothing. Monthly, 7440
	// paid, start 2024-03-01 00:00, used 10 d = 240 h (now 2024-03-11 00:00).
	for _, tt := range []struct {
		name, expires         string
		consumed, fee, amount int64
	}{
		// 744 h: consumed = 7440 × 240 / 744 = 2400; amount = 7440 − 2400 − 744 = 4296.
		{"OnTheHour", "2024-04-01T00:00:00Z", 2400, 744, 4296},
		// 00:00:01 counts to 01:00: 745 h. consumed = 1785600 / 745 = 2396
		// (745 × 2396 = 1785020); amount = 7440 − 2396 − 744 = 4300.
		{"OneSecondPast", "2024-04-01T00:00:01Z", 2396, 744, 4300},
		// 2024-03-31 23:59:59 counts to 2024-04-01 00:00: 744 h, as OnTheHour.
		{"HuaweiStyle235959", "2024-03-31T23:59:59Z", 2400, 744, 4296},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 7440, "2024-03-01T00:00:00Z", tt.expires)
			CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, "2024-03-11T00:00:00Z")), 7440, tt.consumed, tt.fee, tt.amount)
		})
	}
}

func TestComputeRefund_HandlingFee(t *testing.T) {
	// All terms start 2024-01-01 00:00 (2024 is a leap year): the first
	// anniversary is 8784 h later (366 d), the second 17544 h (366 + 365 d).
	for _, tt := range []struct {
		name                  string
		mode                  phonefleet.BillingMode
		periodNum             int
		paid                  int64
		expires, now          string
		consumed, fee, amount int64
	}{
		// Monthly: 10%. 744 h period, 2024-01-11 00:00 = 240 h used.
		// consumed = 1990 × 240 / 744 = 477600 / 744 = 641 (744 × 641 = 476904)
		// fee = 199; amount = 1990 − 641 − 199 = 1150.
		{"Monthly", phonefleet.BillingModeMonthly, 1, 1990, "2024-02-01T00:00:00Z", "2024-01-11T00:00:00Z", 641, 199, 1150},
		// Monthly, 9 months: 10%. 2024-01-01 → 2024-10-01 = 274 d = 6576 h; 240 h used.
		// consumed = 17910 × 240 / 6576 = 4298400 / 6576 = 653 (6576 × 653 = 4294128)
		// fee = 1791; amount = 17910 − 653 − 1791 = 15466.
		{"Monthly9", phonefleet.BillingModeMonthly, 9, 17910, "2024-10-01T00:00:00Z", "2024-01-11T00:00:00Z", 653, 1791, 15466},
		// 1-year: 10%. 8784 h period; 2024-07-01 = 182 d = 4368 h used.
		// consumed = 19900 × 4368 / 8784 = 86923200 / 8784 = 9895 (8784 × 9895 = 86917680)
		// fee = 1990; amount = 19900 − 9895 − 1990 = 8015.
		{"Year1", phonefleet.BillingModeYearly, 1, 19900, "2025-01-01T00:00:00Z", "2024-07-01T00:00:00Z", 9895, 1990, 8015},

		// 2-year, 39800 paid, 17544 h period: 15% in the first year, then 10%.
		// 8783 h: consumed = 39800 × 8783 / 17544 = 349563400 / 17544 = 19924
		// fee = 15% = 5970; amount = 39800 − 19924 − 5970 = 13906.
		{"Year2/HourBeforeAnniversary", phonefleet.BillingModeYearly, 2, 39800, "2026-01-01T00:00:00Z", "2024-12-31T23:00:00Z", 19924, 5970, 13906},
		// 23:59:59 still counts as 23:00: first year.
		{"Year2/SecondBeforeAnniversary", phonefleet.BillingModeYearly, 2, 39800, "2026-01-01T00:00:00Z", "2024-12-31T23:59:59Z", 19924, 5970, 13906},
		// 8784 h: consumed = 39800 × 8784 / 17544 = 349603200 / 17544 = 19927
		// fee = 10% = 3980; amount = 39800 − 19927 − 3980 = 15893.
		{"Year2/AtAnniversary", phonefleet.BillingModeYearly, 2, 39800, "2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z", 19927, 3980, 15893},
		// 8785 h: consumed = 349643000 / 17544 = 19929; amount = 39800 − 19929 − 3980 = 15891.
		{"Year2/HourAfterAnniversary", phonefleet.BillingModeYearly, 2, 39800, "2026-01-01T00:00:00Z", "2025-01-01T01:00:00Z", 19929, 3980, 15891},

		// 3-year, 59700 paid, 2024-01-01 → 2027-01-01 = 1096 d = 26304 h: 15%, 10%, 5%.
		// 8783 h: consumed = 59700 × 8783 / 26304 = 524345100 / 26304 = 19934
		// fee = 15% = 8955; amount = 59700 − 19934 − 8955 = 30811.
		{"Year3/HourBeforeFirstAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2024-12-31T23:00:00Z", 19934, 8955, 30811},
		// 8784 h: consumed = 524404800 / 26304 = 19936; fee = 10% = 5970; amount = 59700 − 19936 − 5970 = 33794.
		{"Year3/AtFirstAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2025-01-01T00:00:00Z", 19936, 5970, 33794},
		// 8785 h: consumed = 524464500 / 26304 = 19938; amount = 59700 − 19938 − 5970 = 33792.
		{"Year3/HourAfterFirstAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2025-01-01T01:00:00Z", 19938, 5970, 33792},
		// 17543 h: consumed = 59700 × 17543 / 26304 = 1047317100 / 26304 = 39815
		// fee = 10% = 5970; amount = 59700 − 39815 − 5970 = 13915.
		{"Year3/HourBeforeSecondAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2025-12-31T23:00:00Z", 39815, 5970, 13915},
		// 17544 h: consumed = 1047376800 / 26304 = 39818; fee = 5% = 2985; amount = 59700 − 39818 − 2985 = 16897.
		{"Year3/AtSecondAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 39818, 2985, 16897},
		// 17545 h: consumed = 1047436500 / 26304 = 39820; amount = 59700 − 39820 − 2985 = 16895.
		{"Year3/HourAfterSecondAnniversary", phonefleet.BillingModeYearly, 3, 59700, "2027-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 39820, 2985, 16895},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := NewPrepaid(t, tt.mode, tt.periodNum, tt.paid, "2024-01-01T00:00:00Z", tt.expires)
			CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, tt.now)), tt.paid, tt.consumed, tt.fee, tt.amount)
		})
	}

	// A year of use is counted from the start truncated to the hour: bought
	// 2024-01-01 10:30, the second year begins at 2025-01-01 10:00 (8784 h).
	t.Run("Year2/AnniversaryOfTruncatedStart", func(t *testing.T) {
		in := NewPrepaid(t, phonefleet.BillingModeYearly, 2, 39800, "2024-01-01T10:30:00Z", "2026-01-01T10:30:00Z")
		// period 2024-01-01 10:00 → 2026-01-01 11:00 = 17545 h.
		// 09:59 → 09:00, 8783 h: consumed = 349563400 / 17545 = 19923; 15% = 5970; 39800 − 19923 − 5970 = 13907.
		CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, "2025-01-01T09:59:00Z")), 39800, 19923, 5970, 13907)
		// 10:15 → 10:00, 8784 h: consumed = 349603200 / 17545 = 19926; 10% = 3980; 39800 − 19926 − 3980 = 15894.
		CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, "2025-01-01T10:15:00Z")), 39800, 19926, 3980, 15894)
	})
}

func TestComputeRefund_Clamp(t *testing.T) {
	// Monthly, 1000 paid, 2024-03-01 00:00 → 2024-04-01 00:00 = 744 h; fee 100.
	in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1000, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	for _, tt := range []struct {
		name, now             string
		consumed, fee, amount int64
	}{
		// 669 h (27 d 21 h): consumed = 669000 / 744 = 899; 1000 − 899 − 100 = 1.
		{"One", "2024-03-28T21:00:00Z", 899, 100, 1},
		// 670 h: consumed = 670000 / 744 = 900; 1000 − 900 − 100 = 0.
		{"Zero", "2024-03-28T22:00:00Z", 900, 100, 0},
		// 672 h (28 d): consumed = 672000 / 744 = 903; 1000 − 903 − 100 = −3 → 0.
		{"Negative", "2024-03-29T00:00:00Z", 903, 100, 0},
		// 743 h: consumed = 743000 / 744 = 998; −98 → 0.
		{"LastHour", "2024-03-31T23:30:00Z", 998, 100, 0},
		// At and after expiry the subscription has ended: everything is
		// consumed and no fee is taken.
		{"AtExpiry", "2024-04-01T00:00:00Z", 1000, 0, 0},
		{"AfterExpiry", "2024-06-15T12:00:00Z", 1000, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, tt.now)), 1000, tt.consumed, tt.fee, tt.amount)
		})
	}

	// Late in a 3-year term: 26000 h of 26304 (2026-12-19 08:00).
	// consumed = 59700 × 26000 / 26304 = 1552200000 / 26304 = 59010; fee 5% = 2985;
	// 59700 − 59010 − 2985 = −2295 → 0.
	t.Run("LateYear3", func(t *testing.T) {
		in := NewPrepaid(t, phonefleet.BillingModeYearly, 3, 59700, "2024-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
		CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, "2026-12-19T08:00:00Z")), 59700, 59010, 2985, 0)
	})
}

func TestComputeRefund_NoRefund(t *testing.T) {
	late := MustTime(t, "2024-03-20T00:00:00Z")
	early := MustTime(t, "2024-03-02T00:00:00Z")

	t.Run("PayPerUse", func(t *testing.T) {
		in := &phonefleet.Instance{ID: "p1", TenantID: "t1", BillingMode: phonefleet.BillingModePayPerUse,
			StartsAt: MustTime(t, "2024-03-01T00:00:00Z"), State: phonefleet.InstanceStateRunning}
		CheckRefund(t, phonefleet.ComputeRefund(in, early), 0, 0, 0, 0)
		CheckRefund(t, phonefleet.ComputeRefund(in, late), 0, 0, 0, 0)
	})
	t.Run("PayPerUseWithAmount", func(t *testing.T) {
		// Even a (corrupt) pay-per-use row with a paid amount refunds nothing.
		exp := MustTime(t, "2024-04-01T00:00:00Z")
		in := &phonefleet.Instance{BillingMode: phonefleet.BillingModePayPerUse, PaidAmount: 500,
			StartsAt: MustTime(t, "2024-03-01T00:00:00Z"), ExpiresAt: &exp}
		CheckRefund(t, phonefleet.ComputeRefund(in, early), 0, 0, 0, 0)
	})
	t.Run("PrepaidWithoutExpiry", func(t *testing.T) {
		in := &phonefleet.Instance{BillingMode: phonefleet.BillingModeMonthly, PeriodNum: 1, PaidAmount: 500,
			StartsAt: MustTime(t, "2024-03-01T00:00:00Z")}
		if got := phonefleet.ComputeRefund(in, late).Amount; got != 0 {
			t.Fatalf("Amount=%d, want 0", got)
		}
	})
	t.Run("PaidZero", func(t *testing.T) {
		in := NewPrepaid(t, phonefleet.BillingModeYearly, 3, 0, "2024-03-01T00:00:00Z", "2027-03-01T00:00:00Z")
		CheckRefund(t, phonefleet.ComputeRefund(in, early), 0, 0, 0, 0)
		CheckRefund(t, phonefleet.ComputeRefund(in, late), 0, 0, 0, 0)
	})
	t.Run("PaidNegative", func(t *testing.T) {
		in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, -100, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
		CheckRefund(t, phonefleet.ComputeRefund(in, early), 0, 0, 0, 0)
		CheckRefund(t, phonefleet.ComputeRefund(in, late), 0, 0, 0, 0)
	})
}

func TestComputeRefund_Identity(t *testing.T) {
	in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	in.ID, in.TenantID, in.OrderID = "abc12345", "tenant9", "CS2403010000ABCDEF"
	got := phonefleet.ComputeRefund(in, MustTime(t, "2024-03-02T00:00:00Z"))
	if got.InstanceID != "abc12345" || got.TenantID != "tenant9" || got.OrderID != "CS2403010000ABCDEF" || got.Currency != "USD" {
		t.Fatalf("Refund ids=%q/%q/%q/%q, want abc12345/tenant9/CS2403010000ABCDEF/USD",
			got.InstanceID, got.TenantID, got.OrderID, got.Currency)
	}
	if in.State != phonefleet.InstanceStateRunning || in.PaidAmount != 1990 {
		t.Fatalf("ComputeRefund changed its instance: state=%s paid=%d", in.State, in.PaidAmount)
	}
}

func TestComputeRefund_TimeZones(t *testing.T) {
	// Hours are UTC hours. In India (+05:30) a purchase at 16:00 local is
	// 10:30 UTC and counts from 10:00 UTC, not from 16:00 local.
	ist := time.FixedZone("IST", 5*3600+1800)
	exp := time.Date(2024, 4, 1, 5, 30, 0, 0, ist) // 2024-04-01 00:00 UTC
	in := &phonefleet.Instance{BillingMode: phonefleet.BillingModeMonthly, PeriodNum: 1, PaidAmount: 7340,
		StartsAt: time.Date(2024, 3, 1, 16, 0, 0, 0, ist), ExpiresAt: &exp}
	// period = 2024-03-01 10:00 → 2024-04-01 00:00 UTC = 744 − 10 = 734 h
	// now 2024-03-11 18:40 UTC (2024-03-12 00:10 IST) → 18:00 UTC: 10 d 8 h = 248 h
	// consumed = 7340 × 248 / 734 = 2480; fee = 734; amount = 7340 − 2480 − 734 = 4126.
	now := time.Date(2024, 3, 12, 0, 10, 0, 0, ist)
	CheckRefund(t, phonefleet.ComputeRefund(in, now), 7340, 2480, 734, 4126)
}

// FuzzComputeRefund checks ComputeRefund's invariants for any non-negative
// payment, start, term and unsubscription time, against a big-integer
// reference of the refund rule (docs/api.md).
func FuzzComputeRefund(f *testing.F) {
	// paid, start (seconds after 2000-01-01), yearly, term selector, elapsed seconds.
	f.Add(int64(10000), int64(757_420_200), false, uint8(0), int64(1_239_000)) // 2024-01-01 10:30 monthly, unsubscribed 2024-01-15 18:40
	f.Add(int64(1990), int64(0), false, uint8(8), int64(432_000))              // exactly 120 h
	f.Add(int64(1990), int64(0), false, uint8(8), int64(432_001))              // 120 h + 1 s
	f.Add(int64(39800), int64(757_382_400), true, uint8(1), int64(31_622_400)) // 2-year at its first anniversary
	f.Add(int64(59700), int64(757_382_400), true, uint8(2), int64(63_158_400)) // 3-year at its second anniversary
	f.Add(int64(1<<62), int64(1), true, uint8(2), int64(90_000_000))           // huge payment late in the term
	f.Add(int64(0), int64(5), false, uint8(3), int64(-3600))                   // free, before the start

	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, paid, startSec int64, yearly bool, term uint8, elapsedSec int64) {
		const day = 24 * 3600
		paid &= math.MaxInt64 // any paid ≥ 0
		start := base.Add(time.Duration(uint64(startSec)%(200*365*day)) * time.Second)
		// now runs from 30 days before the start to 4 years after it.
		const before = 30 * day
		now := start.Add(time.Duration(int64(uint64(elapsedSec)%(4*366*day+before))-before) * time.Second)

		in := &phonefleet.Instance{ID: "i1", TenantID: "t1", PaidAmount: paid, StartsAt: start, State: phonefleet.InstanceStateRunning}
		var expires time.Time
		if yearly {
			in.BillingMode, in.PeriodNum = phonefleet.BillingModeYearly, 1+int(term%3)
			expires = start.AddDate(in.PeriodNum, 0, 0)
		} else {
			in.BillingMode, in.PeriodNum = phonefleet.BillingModeMonthly, 1+int(term%9)
			expires = start.AddDate(0, in.PeriodNum, 0)
		}
		in.ExpiresAt = &expires

		r := phonefleet.ComputeRefund(in, now)
		if r.Paid != paid {
			t.Fatalf("Paid=%d, want %d", r.Paid, paid)
		}
		if r.Amount < 0 || r.Amount > r.Paid || r.Consumed < 0 || r.Fee < 0 || r.Consumed > r.Paid || r.Fee > r.Paid {
			t.Fatalf("Refund paid/consumed/fee/amount=%d/%d/%d/%d out of range", r.Paid, r.Consumed, r.Fee, r.Amount)
		}
		if raw := r.Paid - r.Consumed - r.Fee; (raw > 0 && r.Amount != raw) || (raw <= 0 && r.Amount != 0) {
			t.Fatalf("Amount=%d, want max(%d − %d − %d, 0)", r.Amount, r.Paid, r.Consumed, r.Fee)
		}

		consumed, fee := referenceRefund(in, now)
		if r.Consumed != consumed || r.Fee != fee {
			t.Fatalf("Consumed/Fee=%d/%d, want %d/%d (start %s, expires %s, now %s)",
				r.Consumed, r.Fee, consumed, fee, start.Format(time.RFC3339), expires.Format(time.RFC3339), now.Format(time.RFC3339))
		}
	})
}

// referenceRefund computes the refund rule's consumed amount and fee with big
// integers and calendar arithmetic, independently of ComputeRefund.
func referenceRefund(in *phonefleet.Instance, now time.Time) (consumed, fee int64) {
	if now.Sub(in.StartsAt) <= 120*time.Hour {
		return 0, 0
	}
	if !now.Before(*in.ExpiresAt) {
		return in.PaidAmount, 0
	}
	start := in.StartsAt.Truncate(time.Hour)
	nowHour := now.Truncate(time.Hour)

	// Hours touched by the period: its last, partial hour counts.
	periodHours := int64(math.Ceil(in.ExpiresAt.Sub(start).Hours()))
	usedHours := int64(nowHour.Sub(start).Hours())
	if usedHours >= periodHours {
		consumed = in.PaidAmount
	} else {
		q := new(big.Int).Mul(big.NewInt(in.PaidAmount), big.NewInt(usedHours))
		consumed = q.Quo(q, big.NewInt(periodHours)).Int64()
	}

	// Year of use: whole years elapsed since the truncated start, plus one.
	years := nowHour.Year() - start.Year()
	if nowHour.Before(start.AddDate(years, 0, 0)) {
		years--
	}
	rate := int64(10)
	if in.BillingMode == phonefleet.BillingModeYearly {
		switch y := min(years+1, in.PeriodNum); {
		case in.PeriodNum >= 2 && y == 1:
			rate = 15
		case in.PeriodNum == 3 && y == 3:
			rate = 5
		}
	}
	f := new(big.Int).Mul(big.NewInt(in.PaidAmount), big.NewInt(rate))
	return consumed, f.Quo(f, big.NewInt(100)).Int64()
}

// An expired or frozen instance is refunded nothing and charged no fee,
// whatever the time says (its state may be ahead of a clock read late).
func TestComputeRefund_Lapsed(t *testing.T) {
	for _, st := range []phonefleet.InstanceState{phonefleet.InstanceStateExpired, phonefleet.InstanceStateFrozen} {
		t.Run(string(st), func(t *testing.T) {
			in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1000, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
			in.State = st
			CheckRefund(t, phonefleet.ComputeRefund(in, MustTime(t, "2024-03-20T00:00:00Z")), 1000, 1000, 0, 0)
		})
	}
}
