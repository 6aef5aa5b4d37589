package phonefleet

import (
	"context"
	"math/bits"
	"time"
)

// FullRefundWindow is the five-day unconditional unsubscription window: an
// instance unsubscribed within it of its start is refunded in full, without
// a handling fee.
const FullRefundWindow = 120 * time.Hour

// Refund is the money returned for one unsubscribed instance, in minor
// units: Amount = Paid − Consumed − Fee, never below 0.
type Refund struct {
	InstanceID string    `json:"instance_id"`
	TenantID   string    `json:"-"`
	OrderID    string    `json:"order_id"`
	Paid       int64     `json:"paid"`
	Consumed   int64     `json:"consumed"`
	Fee        int64     `json:"fee"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	RequestID  string    `json:"request_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// ComputeRefund applies Huawei Cloud's unsubscription rule (docs/api.md,
// "Refund rule") to a yearly/monthly instance unsubscribed at now:
//
//   - within 120 h of StartsAt: everything is refunded, no fee;
//   - else consumed = paid × used_hours / period_hours, rounded down, where
//     both spans start at StartsAt truncated to the hour, period_hours ends at
//     ExpiresAt rounded up to the hour (23:59:59 counts as 24:00) and
//     used_hours at now truncated to the hour (whole hours, rounded down;
//     capped at the period);
//   - fee = paid × rate, rounded down: monthly and 1-year 10%; 2-year 15% in
//     the first year of use, then 10%; 3-year 15%, 10%, 5% by year of use.
//     A year of use ends on the anniversary of the truncated start.
//
// The result is never below 0 nor above Paid. Pay-per-use instances and
// instances without an expiry get a zero refund. An instance whose
// subscription has ended (expired or frozen, or at or past ExpiresAt) has
// consumed everything: refund 0, fee 0.
func ComputeRefund(in *Instance, now time.Time) Refund {
	r := Refund{InstanceID: in.ID, TenantID: in.TenantID, OrderID: in.OrderID, Paid: max(in.PaidAmount, 0), Currency: in.Currency}
	if !in.BillingMode.Prepaid() || in.ExpiresAt == nil {
		r.Paid, r.Amount = 0, 0
		return r
	}
	if in.State == InstanceStateExpired || in.State == InstanceStateFrozen || !now.Before(*in.ExpiresAt) {
		r.Consumed = r.Paid
		return r
	}
	if now.Sub(in.StartsAt) <= FullRefundWindow {
		r.Amount = r.Paid
		return r
	}

	start := in.StartsAt.UTC().Truncate(time.Hour)
	// The hour the period ends in counts in full: Huawei's order expiring
	// 2024-02-01 23:59:59 lasts until 24:00 (31 d 14 h from 2024-01-01 10:00).
	span := in.ExpiresAt.Sub(start)
	periodHours := int64(span / time.Hour)
	if span%time.Hour > 0 {
		periodHours++
	}
	usedHours := int64(now.UTC().Truncate(time.Hour).Sub(start) / time.Hour)
	switch {
	case periodHours <= 0 || usedHours >= periodHours:
		r.Consumed = r.Paid
	case usedHours > 0:
		r.Consumed = mulDiv(r.Paid, usedHours, periodHours)
	}

	r.Fee = mulDiv(r.Paid, feePercent(in, start, now.UTC().Truncate(time.Hour)), 100)
	r.Amount = max(r.Paid-r.Consumed-r.Fee, 0)
	return r
}

// feePercent returns the handling fee rate of the refund rule for the year
// of use that now falls in.
func feePercent(in *Instance, start, now time.Time) int64 {
	if in.BillingMode != BillingModeYearly {
		return 10
	}
	year := 1
	for year < in.PeriodNum && !now.Before(start.AddDate(year, 0, 0)) {
		year++
	}
	switch in.PeriodNum {
	case 2:
		return [...]int64{15, 10}[year-1]
	case 3:
		return [...]int64{15, 10, 5}[year-1]
	}
	return 10
}

// mulDiv returns a×b/c rounded down for non-negative a, b and positive c,
// without overflowing for any int64 inputs whose quotient fits.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return a // b > c: callers never ask; saturate at a
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// RefundFilter selects refunds.
type RefundFilter struct {
	TenantID *string
}

// RefundService lists refunds.
type RefundService interface {
	// FindRefunds returns refunds ordered by created_at, then instance ID.
	FindRefunds(ctx context.Context, filter RefundFilter) ([]*Refund, error)
}
