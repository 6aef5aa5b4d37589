package http

import (
	"maps"
	"net/http"
	"slices"

	"github.com/phonefleet/phonefleet"
)

// chargeModePrepaidAndPostpaid is the reference's chargeMode of a SKU that
// can be bought yearly/monthly or pay-per-use, as every SKU here can.
const chargeModePrepaidAndPostpaid = 2

// skuListResponse is the data of GET /v1/instances/sku.
type skuListResponse struct {
	BandInfo            bandInfo          `json:"bandInfo"`
	SKUSpecResponseList []skuSpecResponse `json:"skuSpecResponseList"`
}

type bandInfo struct {
	CBCSKUID string `json:"cbcSkuId"`
}

type skuSpecResponse struct {
	RegionID     string        `json:"regionId"`
	SKUResponses []skuResponse `json:"skuResponses"`
}

type skuResponse struct {
	Type          string `json:"type"`
	CBCSKUID      string `json:"cbcSkuId"`
	Name          string `json:"name"`
	CalcSpec      string `json:"calcSpec"`
	StorageSpec   string `json:"storageSpec"`
	SpecDesc      string `json:"specDesc"`
	BandSize      string `json:"bandSize"`
	ChargeMode    int    `json:"chargeMode"`
	MaxResolution string `json:"maxResolution"`
	MonthPrice    int64  `json:"monthPrice"`
	YearPrice     int64  `json:"yearPrice"`
	HourPrice     int64  `json:"hourPrice"`
	Currency      string `json:"currency"`
}

// handleSKUList returns the catalogue grouped by region: GET
// /v1/instances/sku?type=0.
func (s *Server) handleSKUList(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r)
	if err != nil {
		Error(w, r, err)
		return
	} else if q.Get("type") != "0" {
		Error(w, r, phonefleet.Errorf(phonefleet.EInvalid, "type must be 0"))
		return
	}
	skus, err := s.Store.FindSKUs(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	writeData(w, r, newSKUListResponse(skus))
}

// newSKUListResponse groups skus by region, regions in name order and SKUs
// in catalogue order within each, each at its price in the region. Retired
// SKUs are left out.
func newSKUListResponse(skus []*phonefleet.SKU) skuListResponse {
	byRegion := make(map[string][]skuResponse)
	for _, sku := range skus {
		if sku.RetiredAt != nil {
			continue // not sold any more
		}
		for _, region := range sku.Regions {
			month, year, hour := sku.PricesIn(region)
			byRegion[region] = append(byRegion[region], skuResponse{
				Type: sku.Type, CBCSKUID: sku.ID, Name: sku.Name, CalcSpec: sku.CalcSpec, StorageSpec: sku.StorageSpec,
				SpecDesc: sku.SpecDesc, BandSize: sku.BandSizeList(), ChargeMode: chargeModePrepaidAndPostpaid,
				MaxResolution: sku.MaxResolution, MonthPrice: month, YearPrice: year,
				HourPrice: hour, Currency: sku.Currency,
			})
		}
	}
	resp := skuListResponse{BandInfo: bandInfo{CBCSKUID: phonefleet.BandSKUID}, SKUSpecResponseList: []skuSpecResponse{}}
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		resp.SKUSpecResponseList = append(resp.SKUSpecResponseList, skuSpecResponse{RegionID: region, SKUResponses: byRegion[region]})
	}
	return resp
}
