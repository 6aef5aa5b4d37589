package phonefleet

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BandSKUID is the catalogue's bandwidth SKU, the bandSkuId every purchase
// names (the reference's bandInfo.cbcSkuId).
const BandSKUID = "kp.band.bgp.standard"

// Currency is the currency of every price and refund, in minor units (cents).
const Currency = "USD"

// FormatMoney writes an amount of minor units for people: 144319 USD is
// "1443.19 USD".
func FormatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

// SKU types of the reference.
const (
	SKUTypeProfessional = "PROFESSIONAL"
	SKUTypeEnterprise   = "ENTERPRISE"
)

// SKU is a cloud-phone flavour for sale: specs, allowed bandwidths, the
// regions that offer it and its prices in minor units.
type SKU struct {
	ID            string   `json:"id"`
	Type          string   `json:"type"`
	Name          string   `json:"name"`
	CalcSpec      string   `json:"calc_spec"`
	StorageSpec   string   `json:"storage_spec"`
	SpecDesc      string   `json:"spec_desc"`
	MaxResolution string   `json:"max_resolution"`
	BandSizes     []int    `json:"band_sizes"`
	Regions       []string `json:"regions"`
	MonthPrice    int64    `json:"month_price"`
	YearPrice     int64    `json:"year_price"`
	HourPrice     int64    `json:"hour_price"`
	Currency      string   `json:"currency"`

	// Prices are the SKU's prices in some of its regions, overriding the
	// base prices there (AdminService.SetSKUPrice), in region order.
	Prices []RegionPrice `json:"region_prices,omitempty"`
	// RetiredAt is when the SKU stopped being sold; nil while it is. A
	// retired SKU is neither listed nor sold; its instances keep running.
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// PricesIn returns the month, year and hour prices of the SKU in region:
// the region's own prices if it has some, else the base prices.
func (s *SKU) PricesIn(region string) (month, year, hour int64) {
	for _, p := range s.Prices {
		if p.Region == region {
			return p.MonthPrice, p.YearPrice, p.HourPrice
		}
	}
	return s.MonthPrice, s.YearPrice, s.HourPrice
}

var skuIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
var regionRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// Validate returns EInvalid naming the first field that is wrong.
func (s *SKU) Validate() error {
	switch {
	case !skuIDRE.MatchString(s.ID):
		return Errorf(EInvalid, "sku id must be 1-64 characters of [A-Za-z0-9._-]")
	case s.ID == BandSKUID:
		return Errorf(EInvalid, "sku id %q is the band SKU", s.ID)
	case s.Type != SKUTypeProfessional && s.Type != SKUTypeEnterprise:
		return Errorf(EInvalid, "sku type must be %s or %s", SKUTypeProfessional, SKUTypeEnterprise)
	case s.Name == "" || len(s.Name) > 128:
		return Errorf(EInvalid, "sku name must be 1-128 characters")
	case len(s.BandSizes) == 0:
		return Errorf(EInvalid, "sku band sizes required")
	case len(s.Regions) == 0:
		return Errorf(EInvalid, "sku regions required")
	case s.MonthPrice <= 0 || s.YearPrice <= 0 || s.HourPrice <= 0:
		return Errorf(EInvalid, "sku prices must be positive minor units")
	case s.Currency != Currency:
		return Errorf(EInvalid, "sku currency must be %s", Currency)
	}
	for _, b := range s.BandSizes {
		if b <= 0 || b > 10000 {
			return Errorf(EInvalid, "sku band size %d must be 1-10000 Mbit/s", b)
		}
	}
	seen := make(map[string]bool, len(s.Regions))
	for _, r := range s.Regions {
		if !regionRE.MatchString(r) {
			return Errorf(EInvalid, "sku region %q must be 1-64 characters of [a-z0-9-]", r)
		} else if seen[r] {
			return Errorf(EInvalid, "sku region %q listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

// OffersRegion reports whether the SKU is sold in region.
func (s *SKU) OffersRegion(region string) bool { return slices.Contains(s.Regions, region) }

// BandSizeList returns the allowed band sizes as the reference writes them, "2,4,8".
func (s *SKU) BandSizeList() string {
	parts := make([]string, len(s.BandSizes))
	for i, b := range s.BandSizes {
		parts[i] = strconv.Itoa(b)
	}
	return strings.Join(parts, ",")
}

// ParseBandSizes parses "2,4,8" into sorted, distinct sizes.
func ParseBandSizes(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, Errorf(EInvalid, "band size %q is not an integer", p)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// DefaultSKUs is the catalogue a new database starts with: two regions, a
// professional and an enterprise line.
func DefaultSKUs() []*SKU {
	return []*SKU{
		{
			ID: "kp.pro.2u4g", Type: SKUTypeProfessional, Name: "Professional edition 2 vCPUs 4 GB",
			CalcSpec: "2 vCPUs|4 GB", StorageSpec: "32 GB", MaxResolution: "720p",
			SpecDesc:  "Professional edition | 2 vCPUs | 4 GB | 32 GB storage | Maximum resolution: 720p",
			BandSizes: []int{2, 4, 8}, Regions: []string{"ap-southeast-1", "cn-north-4"},
			MonthPrice: 1990, YearPrice: 19900, HourPrice: 4, Currency: Currency,
		},
		{
			ID: "kp.pro.4u8g", Type: SKUTypeProfessional, Name: "Professional edition 4 vCPUs 8 GB",
			CalcSpec: "4 vCPUs|8 GB", StorageSpec: "64 GB", MaxResolution: "1080p",
			SpecDesc:  "Professional edition | 4 vCPUs | 8 GB | 64 GB storage | Maximum resolution: 1080p",
			BandSizes: []int{2, 4, 8}, Regions: []string{"ap-southeast-1", "cn-north-4"},
			MonthPrice: 3490, YearPrice: 34900, HourPrice: 7, Currency: Currency,
		},
		{
			ID: "kp.ent.8u16g", Type: SKUTypeEnterprise, Name: "Enterprise edition 8 vCPUs 16 GB",
			CalcSpec: "8 vCPUs|16 GB", StorageSpec: "128 GB", MaxResolution: "1080p",
			SpecDesc:  "Enterprise edition | 8 vCPUs | 16 GB | 128 GB storage | Maximum resolution: 1080p",
			BandSizes: []int{4, 8, 16}, Regions: []string{"cn-north-4"},
			MonthPrice: 6990, YearPrice: 69900, HourPrice: 14, Currency: Currency,
		},
	}
}

// SKUService manages the catalogue.
type SKUService interface {
	// FindSKUs returns the whole catalogue ordered by ID.
	FindSKUs(ctx context.Context) ([]*SKU, error)
	// CreateSKU adds s to the catalogue; EInvalid if it does not validate,
	// EConflict if the ID is taken.
	CreateSKU(ctx context.Context, s *SKU) error
}
