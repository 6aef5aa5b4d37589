package phonefleet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Operating system images an instance can run.
var OSImages = []string{"AOSP9", "AOSP11", "AOSP14"}

// KooPhone chargeParam values.
const (
	ChargingModePayPerUse = 0
	ChargingModePrepaid   = 1
	PeriodTypeMonth       = 2
	PeriodTypeYear        = 3
)

// Purchase limits.
const (
	MaxPurchaseCount  = 1500
	MaxNamePrefixLen  = 14
	MaxCatalogueIDLen = 64
)

// PurchaseRequest is a validated-shape CreateInstance call. Pointer-free: the
// HTTP decoder reports missing fields before it builds one, except OS, whose
// absence is its own error code (EOSRequired) and is checked by Validate.
type PurchaseRequest struct {
	TenantID      string
	TokenID       string
	UserName      string // the tenant user who called, for the audit trail
	Actor         string // who called (Principal.Actor), for the audit trail; "" means UserName, else ActorSystem
	ClientAddr    string // the caller's address, for the audit trail
	RequestID     string
	OS            string
	InstanceSKUID string
	BandSKUID     string
	RegionID      string
	NamePrefix    string
	BandSize      int
	Count         int
	ChargingMode  int
	PeriodType    int
	PeriodNum     int
	AutoPay       bool
	AutoRenew     bool
	// Extra is what the body held besides the parameters above (members
	// phonefleet does not read), as canonical JSON: keys sorted, no
	// whitespace, values re-encoded; "" when there is nothing. It takes no
	// part in the purchase, only in Digest.
	Extra string
}

// Digest returns the hex SHA-256 of the request's canonical form: every
// parameter as decoded (so 1 and true, 2 and 2.0, an absent flag and false
// are the same value) and Extra. Who asks and the request ID are not part of
// it. Two bodies that differ only in whitespace, member order or the
// spelling of equal values have the same digest; any other difference gives
// another one.
func (r *PurchaseRequest) Digest() string {
	canon, err := json.Marshal([]any{"purchase/1", r.OS, r.InstanceSKUID, r.BandSKUID, r.RegionID, r.NamePrefix,
		r.BandSize, r.Count, r.ChargingMode, r.PeriodType, r.PeriodNum, r.AutoPay, r.AutoRenew, r.Extra})
	if err != nil {
		panic(err) // strings, integers and booleans always marshal
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// CheckPurchaseRetry decides whether req, which carries the request ID of
// the earlier order first, may be answered with first: nil when its Digest
// equals the one first was bought with, or when first has none (orders
// made before digests were stored count as the same purchase); else
// EInvalid "X-Request-Id <id> was used for a different purchase", and
// nothing may be bought.
func CheckPurchaseRetry(req *PurchaseRequest, first *Order) error {
	if first.RequestDigest == "" || first.RequestDigest == req.Digest() {
		return nil
	}
	return Errorf(EInvalid, "X-Request-Id %s was used for a different purchase", req.RequestID)
}

// Validate checks the parameters that need no catalogue, in field order:
// EOSRequired, EInvalid, EMonthPeriod or EYearPeriod.
func (r *PurchaseRequest) Validate() error {
	if r.OS == "" {
		return Errorf(EOSRequired, "os is required")
	}
	if !slices.Contains(OSImages, r.OS) {
		return Errorf(EInvalid, "os must be one of %s", strings.Join(OSImages, ", "))
	}
	for _, f := range []struct{ name, v string }{
		{"instanceSkuId", r.InstanceSKUID}, {"bandSkuId", r.BandSKUID}, {"regionId", r.RegionID},
	} {
		if f.v == "" || len(f.v) > MaxCatalogueIDLen {
			return Errorf(EInvalid, "%s must be 1-%d characters", f.name, MaxCatalogueIDLen)
		}
	}
	if n := utf8.RuneCountInString(r.NamePrefix); n < 1 || n > MaxNamePrefixLen || !utf8.ValidString(r.NamePrefix) {
		return Errorf(EInvalid, "instanceNamePrefix must be 1-%d characters", MaxNamePrefixLen)
	}
	if err := CheckText("instanceNamePrefix", r.NamePrefix); err != nil {
		return err
	}
	for _, c := range r.NamePrefix {
		if unicode.IsSpace(c) {
			return Errorf(EInvalid, "instanceNamePrefix must not contain spaces or control characters")
		}
	}
	if r.BandSize <= 0 {
		return Errorf(EInvalid, "bandSize must be a positive whole number of Mbit/s")
	}
	if r.Count < 1 || r.Count > MaxPurchaseCount {
		return Errorf(EInvalid, "count must be 1-%d", MaxPurchaseCount)
	}
	switch r.ChargingMode {
	case ChargingModePayPerUse:
		return nil
	case ChargingModePrepaid:
	default:
		return Errorf(EInvalid, "chargeParam.chargingMode must be 0 (pay-per-use) or 1 (yearly/monthly)")
	}
	switch r.PeriodType {
	case PeriodTypeMonth:
		if r.PeriodNum < 1 || r.PeriodNum > 9 {
			return Errorf(EMonthPeriod, "chargeParam.periodNum must be 1-9 for periodType 2 (month)")
		}
	case PeriodTypeYear:
		if r.PeriodNum < 1 || r.PeriodNum > 3 {
			return Errorf(EYearPeriod, "chargeParam.periodNum must be 1-3 for periodType 3 (year)")
		}
	default:
		return Errorf(EInvalid, "chargeParam.periodType must be 2 (month) or 3 (year) for chargingMode 1")
	}
	return nil
}

// BillingMode returns the billing mode the request buys.
func (r *PurchaseRequest) BillingMode() BillingMode {
	switch {
	case r.ChargingMode == ChargingModePayPerUse:
		return BillingModePayPerUse
	case r.PeriodType == PeriodTypeYear:
		return BillingModeYearly
	}
	return BillingModeMonthly
}

// Order is one purchase: count instances of one SKU in one region.
type Order struct {
	ID          string      `json:"order_id"`
	TenantID    string      `json:"tenant_id"`
	SKUID       string      `json:"sku_id"`
	RegionID    string      `json:"region"`
	OS          string      `json:"os"`
	BandSize    int         `json:"band_size"`
	BillingMode BillingMode `json:"billing_mode"`
	PeriodNum   int         `json:"period_num"`
	Count       int         `json:"count"`
	UnitPrice   int64       `json:"unit_price"` // per instance for the whole period
	Total       int64       `json:"total"`
	Currency    string      `json:"currency"`
	AutoPay     bool        `json:"auto_pay"`
	AutoRenew   bool        `json:"auto_renew"`
	RequestID   string      `json:"request_id"`
	// RequestDigest is the Digest of the purchase request when it carried a
	// request ID, for CheckPurchaseRetry; "" otherwise and for orders made
	// before digests were stored.
	RequestDigest string    `json:"request_digest,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// NewOrderID returns an order number in the style of Huawei Cloud's
// ("CS" + UTC date and time + random).
func NewOrderID(now time.Time) string {
	return "CS" + now.UTC().Format("0601021504") + strings.ToUpper(NewID(6))
}

// PlanPurchase checks a validated request against the SKU it names (nil if
// the catalogue has no such SKU) and returns the order and its instances,
// all starting at now, priced in the request's region. Errors: ESKUNotFound
// for an unknown or retired SKU, band SKU or region; EInvalid for a band size the SKU does not offer. newID makes
// instance IDs.
func PlanPurchase(req *PurchaseRequest, sku *SKU, now time.Time, newID func() string) (*Order, []*Instance, error) {
	switch {
	case sku == nil, sku.RetiredAt != nil:
		return nil, nil, Errorf(ESKUNotFound, "instanceSkuId %q is not in the catalogue", req.InstanceSKUID)
	case req.BandSKUID != BandSKUID:
		return nil, nil, Errorf(ESKUNotFound, "bandSkuId %q is not in the catalogue", req.BandSKUID)
	case !sku.OffersRegion(req.RegionID):
		return nil, nil, Errorf(ESKUNotFound, "regionId %q does not offer instanceSkuId %q", req.RegionID, sku.ID)
	case !slices.Contains(sku.BandSizes, req.BandSize):
		return nil, nil, Errorf(EInvalid, "bandSize %d is not offered by instanceSkuId %q (allowed: %s)", req.BandSize, sku.ID, sku.BandSizeList())
	}

	now = now.UTC()
	mode := req.BillingMode()
	o := &Order{
		ID: NewOrderID(now), TenantID: req.TenantID, SKUID: sku.ID, RegionID: req.RegionID,
		OS: req.OS, BandSize: req.BandSize, BillingMode: mode, Count: req.Count,
		Currency: sku.Currency, AutoPay: req.AutoPay, AutoRenew: req.AutoRenew,
		RequestID: req.RequestID, CreatedAt: now,
	}
	if req.RequestID != "" {
		o.RequestDigest = req.Digest()
	}
	var expires *time.Time
	monthPrice, yearPrice, _ := sku.PricesIn(req.RegionID)
	switch mode {
	case BillingModeMonthly:
		o.PeriodNum, o.UnitPrice = req.PeriodNum, monthPrice*int64(req.PeriodNum)
		t := now.AddDate(0, req.PeriodNum, 0)
		expires = &t
	case BillingModeYearly:
		o.PeriodNum, o.UnitPrice = req.PeriodNum, yearPrice*int64(req.PeriodNum)
		t := now.AddDate(req.PeriodNum, 0, 0)
		expires = &t
	}
	if expires != nil && expires.After(MaxBusinessTime) {
		return nil, nil, Errorf(EInvalid, "chargeParam.periodNum: a subscription bought at %s would end after year 9999, where business time ends", now.Format(time.RFC3339Nano))
	}
	o.Total = o.UnitPrice * int64(req.Count)

	instances := make([]*Instance, req.Count)
	for i := range instances {
		instances[i] = &Instance{
			ID: newID(), TenantID: req.TenantID, OrderID: o.ID,
			Name:     fmt.Sprintf("%s-%04d", req.NamePrefix, i+1),
			RegionID: req.RegionID, SKUID: sku.ID, SKUSpec: sku.SpecDesc, OS: req.OS, BandSize: req.BandSize,
			BillingMode: mode, PeriodNum: o.PeriodNum, PaidAmount: o.UnitPrice, Currency: sku.Currency,
			StartsAt: now, ExpiresAt: expires, State: InstanceStateRunning, CreatedAt: now, UpdatedAt: now,
		}
	}
	return o, instances, nil
}
