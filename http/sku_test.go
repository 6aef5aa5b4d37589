package http_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/phonefleet/phonefleet"
)

func TestSKUList(t *testing.T) {
	const path = "/v1/instances/sku"
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t, skuStore)
		resp := s.Get(t, path+"?type=0", viewerToken)
		if resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200 (%s)", resp.StatusCode, resp.Body)
		}
		var e struct {
			Data struct {
				BandInfo struct {
					CBCSKUID string `json:"cbcSkuId"`
				} `json:"bandInfo"`
				List []struct {
					RegionID     string           `json:"regionId"`
					SKUResponses []map[string]any `json:"skuResponses"`
				} `json:"skuSpecResponseList"`
			} `json:"data"`
			Code    string `json:"error_code"`
			Message string `json:"error_msg"`
		}
		if err := json.Unmarshal(resp.Body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Code != "0" || e.Message != "OK" || e.Data.BandInfo.CBCSKUID != phonefleet.BandSKUID {
			t.Fatalf("body=%s", resp.Body)
		}
		var regions []string
		ids := map[string][]any{}
		for _, r := range e.Data.List {
			regions = append(regions, r.RegionID)
			for _, sku := range r.SKUResponses {
				ids[r.RegionID] = append(ids[r.RegionID], sku["cbcSkuId"])
			}
		}
		if want := []string{"ap-southeast-1", "cn-north-4"}; !reflect.DeepEqual(regions, want) {
			t.Fatalf("regions=%q, want %q", regions, want)
		}
		if want := []any{"kp.pro.2u4g", "kp.pro.4u8g", "kp.ent.8u16g"}; !reflect.DeepEqual(ids["cn-north-4"], want) {
			t.Fatalf("cn-north-4 SKUs=%v, want %v", ids["cn-north-4"], want)
		}
		want := map[string]any{
			"type": "PROFESSIONAL", "cbcSkuId": "kp.pro.2u4g", "name": "Professional edition 2 vCPUs 4 GB",
			"calcSpec": "2 vCPUs|4 GB", "storageSpec": "32 GB",
			"specDesc": "Professional edition | 2 vCPUs | 4 GB | 32 GB storage | Maximum resolution: 720p",
			"bandSize": "2,4,8", "chargeMode": float64(2), "maxResolution": "720p",
			"monthPrice": float64(1990), "yearPrice": float64(19900), "hourPrice": float64(4), "currency": "USD",
		}
		if got := e.Data.List[0].SKUResponses[0]; !reflect.DeepEqual(got, want) {
			t.Fatalf("sku=%v, want %v", got, want)
		}
	})
	t.Run("EmptyCatalogue", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.FindSKUsFn = func(ctx context.Context) ([]*phonefleet.SKU, error) { return nil, nil }
		})
		resp := s.Get(t, path+"?type=0", adminToken)
		if want := `{"data":{"bandInfo":{"cbcSkuId":"kp.band.bgp.standard"},"skuSpecResponseList":[]},"error_code":"0","error_msg":"OK"}`; string(resp.Body) != want {
			t.Fatalf("body=%s, want %s", resp.Body, want)
		}
	})
	t.Run("ErrType", func(t *testing.T) {
		s := MustOpenServer(t) // FindSKUsFn is nil
		for _, q := range []string{"", "?type=1", "?type=", "?type=00"} {
			assertError(t, s.Get(t, path+q, adminToken), 400, phonefleet.EInvalid, "type must be 0")
		}
		assertError(t, s.Get(t, path+"?type=0&kind=0", adminToken), 400, phonefleet.EInvalid, `query parameter "kind" is not known`)
	})
}
