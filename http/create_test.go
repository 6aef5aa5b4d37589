package http_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	pfhttp "github.com/phonefleet/phonefleet/http"
)

const createPath = "/v1/instances/create"

// createBody returns a valid create body changed by edit. In edit, cp is
// chargeParam; a json.RawMessage value is sent verbatim.
func createBody(edit func(body, cp map[string]any)) string {
	cp := map[string]any{"chargingMode": 1, "periodType": 2, "periodNum": 3, "isAutoPay": 1, "isAutoRenew": false}
	body := map[string]any{
		"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g", "bandSkuId": phonefleet.BandSKUID, "regionId": "cn-north-4",
		"instanceNamePrefix": "web", "bandSize": 4, "count": 2, "chargeParam": cp, "network": "bgp",
	}
	if edit != nil {
		edit(body, cp)
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestInstanceCreate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		var got *phonefleet.PurchaseRequest
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.PurchaseFn = func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
				got = req
				return phonefleet.PlanPurchase(req, phonefleet.DefaultSKUs()[0], testNow, func() string { return "id" + req.NamePrefix })
			}
		})
		resp := s.Do(t, "POST", createPath, map[string]string{"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "req-buy"},
			createBody(func(body, cp map[string]any) { body["bandSize"] = json.RawMessage("4.0") }))
		if resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200 (%s)", resp.StatusCode, resp.Body)
		}
		want := &phonefleet.PurchaseRequest{
			TenantID: "t1", TokenID: "tkadmin", Actor: "tkadmin", ClientAddr: "127.0.0.1", RequestID: "req-buy", OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g",
			BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4", NamePrefix: "web", BandSize: 4, Count: 2,
			ChargingMode: 1, PeriodType: 2, PeriodNum: 3, AutoPay: true, AutoRenew: false,
			Extra: `{"body":{"network":"bgp"}}`, // createBody's member that phonefleet does not read
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("request=%+v, want %+v", got, want)
		}
		var e struct {
			Data struct {
				OrderID       string `json:"orderId"`
				InstanceInfos []struct {
					InstanceID   string `json:"instanceId"`
					InstanceName string `json:"instanceName"`
				} `json:"instanceInfos"`
			} `json:"data"`
		}
		if err := json.Unmarshal(resp.Body, &e); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Data.OrderID, "CS2603011200") || len(e.Data.InstanceInfos) != 2 ||
			e.Data.InstanceInfos[1].InstanceID != "idweb" || e.Data.InstanceInfos[1].InstanceName != "web-0002" {
			t.Fatalf("data=%+v", e.Data)
		}
	})

	t.Run("PayPerUseAndFlags", func(t *testing.T) {
		var got *phonefleet.PurchaseRequest
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.PurchaseFn = func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
				got = req
				return &phonefleet.Order{ID: "o1"}, nil, nil
			}
		})
		resp := s.Post(t, createPath, adminToken, createBody(func(body, cp map[string]any) {
			body["chargeParam"] = map[string]any{"chargingMode": 0, "isAutoPay": true, "isAutoRenew": 1}
		}))
		if resp.StatusCode != 200 {
			t.Fatalf("StatusCode=%d, want 200 (%s)", resp.StatusCode, resp.Body)
		}
		if got.ChargingMode != 0 || got.PeriodType != 0 || got.PeriodNum != 0 || !got.AutoPay || !got.AutoRenew {
			t.Fatalf("request=%+v", got)
		}
		if want := `{"data":{"orderId":"o1","instanceInfos":[]},"error_code":"0","error_msg":"OK"}`; string(resp.Body) != want {
			t.Fatalf("body=%s, want %s", resp.Body, want)
		}
	})

	t.Run("StoreError", func(t *testing.T) {
		s := MustOpenServer(t, func(s *TestServer) {
			s.Store.PurchaseFn = func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
				return phonefleet.PlanPurchase(req, nil, time.Now(), phonefleet.NewInstanceID)
			}
		})
		assertError(t, s.Post(t, createPath, adminToken, createBody(func(body, cp map[string]any) { body["instanceSkuId"] = "kp.nope" })),
			400, phonefleet.ESKUNotFound, `instanceSkuId "kp.nope" is not in the catalogue`)
	})
}

func TestInstanceCreate_BadInput(t *testing.T) {
	s := MustOpenServer(t) // PurchaseFn is nil: reaching the store would panic and answer 500
	for _, tc := range []struct {
		name      string
		edit      func(body, cp map[string]any)
		code, msg string
	}{
		{"OSMissing", func(b, cp map[string]any) { delete(b, "os") }, phonefleet.EOSRequired, "os is required"},
		{"OSNull", func(b, cp map[string]any) { b["os"] = nil }, phonefleet.EOSRequired, "os is required"},
		{"OSEmpty", func(b, cp map[string]any) { b["os"] = "" }, phonefleet.EOSRequired, "os is required"},
		{"OSMissingBeforePeriod", func(b, cp map[string]any) { delete(b, "os"); cp["periodNum"] = 10 }, phonefleet.EOSRequired, "os is required"},
		{"OSUnknown", func(b, cp map[string]any) { b["os"] = "AOSP8" }, phonefleet.EInvalid, "os must be one of AOSP9, AOSP11, AOSP14"},
		{"OSNotString", func(b, cp map[string]any) { b["os"] = 11 }, phonefleet.EInvalid, "os must be a string"},
		{"SKUMissing", func(b, cp map[string]any) { delete(b, "instanceSkuId") }, phonefleet.EInvalid, "instanceSkuId must be 1-64 characters"},
		{"SKUTooLong", func(b, cp map[string]any) { b["instanceSkuId"] = strings.Repeat("s", 65) }, phonefleet.EInvalid, "instanceSkuId must be 1-64 characters"},
		{"SKUNotString", func(b, cp map[string]any) { b["instanceSkuId"] = []string{"a"} }, phonefleet.EInvalid, "instanceSkuId must be a string"},
		{"BandSKUMissing", func(b, cp map[string]any) { delete(b, "bandSkuId") }, phonefleet.EInvalid, "bandSkuId must be 1-64 characters"},
		{"RegionNotString", func(b, cp map[string]any) { b["regionId"] = true }, phonefleet.EInvalid, "regionId must be a string"},
		{"PrefixMissing", func(b, cp map[string]any) { delete(b, "instanceNamePrefix") }, phonefleet.EInvalid, "instanceNamePrefix must be 1-14 characters"},
		{"PrefixTooLong", func(b, cp map[string]any) { b["instanceNamePrefix"] = strings.Repeat("p", 15) }, phonefleet.EInvalid, "instanceNamePrefix must be 1-14 characters"},
		{"PrefixSpace", func(b, cp map[string]any) { b["instanceNamePrefix"] = "a b" }, phonefleet.EInvalid, "instanceNamePrefix must not contain spaces or control characters"},
		{"BandSizeString", func(b, cp map[string]any) { b["bandSize"] = "4" }, phonefleet.EInvalid, "bandSize must be a number"},
		{"BandSizeFraction", func(b, cp map[string]any) { b["bandSize"] = 2.5 }, phonefleet.EInvalid, "bandSize must be a positive whole number of Mbit/s"},
		{"BandSizeHuge", func(b, cp map[string]any) { b["bandSize"] = json.RawMessage("1e300") }, phonefleet.EInvalid, "bandSize must be a positive whole number of Mbit/s"},
		{"BandSizeMissing", func(b, cp map[string]any) { delete(b, "bandSize") }, phonefleet.EInvalid, "bandSize must be a positive whole number of Mbit/s"},
		{"BandSizeNegative", func(b, cp map[string]any) { b["bandSize"] = -4 }, phonefleet.EInvalid, "bandSize must be a positive whole number of Mbit/s"},
		{"CountFraction", func(b, cp map[string]any) { b["count"] = 1.5 }, phonefleet.EInvalid, "count must be an integer"},
		{"CountExponent", func(b, cp map[string]any) { b["count"] = json.RawMessage("1e2") }, phonefleet.EInvalid, "count must be an integer"},
		{"CountString", func(b, cp map[string]any) { b["count"] = "2" }, phonefleet.EInvalid, "count must be an integer"},
		{"CountMissing", func(b, cp map[string]any) { delete(b, "count") }, phonefleet.EInvalid, "count must be 1-1500"},
		{"CountTooMany", func(b, cp map[string]any) { b["count"] = 1501 }, phonefleet.EInvalid, "count must be 1-1500"},
		{"CountOverflow", func(b, cp map[string]any) { b["count"] = json.RawMessage("99999999999999999999") }, phonefleet.EInvalid, "count must be 1-1500"},
		{"CountTypeBeforeOS", func(b, cp map[string]any) { delete(b, "os"); b["count"] = "x" }, phonefleet.EInvalid, "count must be an integer"},
		{"ChargeParamMissing", func(b, cp map[string]any) { delete(b, "chargeParam") }, phonefleet.EInvalid, "chargeParam.chargingMode must be 0 (pay-per-use) or 1 (yearly/monthly)"},
		{"ChargeParamNotObject", func(b, cp map[string]any) { b["chargeParam"] = []int{1} }, phonefleet.EInvalid, "chargeParam must be an object"},
		{"ChargingModeMissing", func(b, cp map[string]any) { delete(cp, "chargingMode") }, phonefleet.EInvalid, "chargeParam.chargingMode must be 0 (pay-per-use) or 1 (yearly/monthly)"},
		{"ChargingModeTwo", func(b, cp map[string]any) { cp["chargingMode"] = 2 }, phonefleet.EInvalid, "chargeParam.chargingMode must be 0 (pay-per-use) or 1 (yearly/monthly)"},
		{"ChargingModeString", func(b, cp map[string]any) { cp["chargingMode"] = "1" }, phonefleet.EInvalid, "chargeParam.chargingMode must be an integer"},
		{"PeriodTypeMissing", func(b, cp map[string]any) { delete(cp, "periodType") }, phonefleet.EInvalid, "chargeParam.periodType must be 2 (month) or 3 (year) for chargingMode 1"},
		{"PeriodTypeFour", func(b, cp map[string]any) { cp["periodType"] = 4 }, phonefleet.EInvalid, "chargeParam.periodType must be 2 (month) or 3 (year) for chargingMode 1"},
		{"MonthPeriod", func(b, cp map[string]any) { cp["periodNum"] = 10 }, phonefleet.EMonthPeriod, "chargeParam.periodNum must be 1-9 for periodType 2 (month)"},
		{"MonthPeriodMissing", func(b, cp map[string]any) { delete(cp, "periodNum") }, phonefleet.EMonthPeriod, "chargeParam.periodNum must be 1-9 for periodType 2 (month)"},
		{"YearPeriod", func(b, cp map[string]any) { cp["periodType"] = 3; cp["periodNum"] = 4 }, phonefleet.EYearPeriod, "chargeParam.periodNum must be 1-3 for periodType 3 (year)"},
		{"PeriodNumFraction", func(b, cp map[string]any) { cp["periodNum"] = 1.5 }, phonefleet.EInvalid, "chargeParam.periodNum must be an integer"},
		{"AutoPayTwo", func(b, cp map[string]any) { cp["isAutoPay"] = 2 }, phonefleet.EInvalid, "chargeParam.isAutoPay must be 0, 1, true or false"},
		{"AutoRenewString", func(b, cp map[string]any) { cp["isAutoRenew"] = "yes" }, phonefleet.EInvalid, "chargeParam.isAutoRenew must be 0, 1, true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rid := "req-create-" + tc.name
			resp := s.Do(t, "POST", createPath, map[string]string{"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": rid}, createBody(tc.edit))
			assertError(t, resp, 400, tc.code, tc.msg)
			e := assertAudited(t, s, rid, phonefleet.ActionInstanceCreate, tc.code, tc.msg)
			if e.TenantID != "t1" || len(e.InstanceIDs) != 0 {
				t.Fatalf("audit event=%+v", e)
			}
		})
	}

	t.Run("Body", func(t *testing.T) {
		for _, tc := range []struct{ body, msg string }{
			{`[]`, "request body must be a JSON object"},
			{`{"os":`, "request body must be valid JSON"},
			{createBody(nil) + `{}`, "request body must hold a single JSON object with nothing after it"},
		} {
			assertError(t, s.Post(t, createPath, adminToken, tc.body), 400, phonefleet.EInvalid, tc.msg)
		}
		resp := s.Do(t, "POST", createPath, map[string]string{"X-Auth-Token": adminToken, "Content-Type": "text/json"}, createBody(nil))
		assertError(t, resp, 400, phonefleet.EInvalid, "Content-Type must be application/json")
	})
}

// TestDecodeCreateRequest_Digest: two purchase bodies are the same purchase
// (the same digest) when they differ only in whitespace, member order or the
// spelling of equal values; any other difference, in a member phonefleet
// reads or not, makes another purchase.
func TestDecodeCreateRequest_Digest(t *testing.T) {
	const base = `{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"web","bandSize":4,"count":2,"note":{"a":1,"b":[1,"x"]},` +
		`"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":3,"isAutoPay":1,"isAutoRenew":false}}`
	digest := func(body string) string {
		t.Helper()
		req, err := pfhttp.DecodeCreateRequest([]byte(body))
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		return req.Digest()
	}
	want := digest(base)
	for _, same := range []string{
		"{\n\t" + strings.ReplaceAll(base[1:], ",", ",\n\t "),                                     // whitespace
		strings.Replace(base, `"isAutoPay":1`, `"isAutoPay":true`, 1),                             // 1 and true
		strings.Replace(base, `"isAutoRenew":false`, `"isAutoRenew":0`, 1),                        // 0 and false
		strings.Replace(base, `,"isAutoRenew":false`, ``, 1),                                      // absent and false
		strings.Replace(base, `"isAutoRenew":false`, `"isAutoRenew":null`, 1),                     // null and false
		strings.Replace(base, `"bandSize":4`, `"bandSize":4.0`, 1),                                // 4 and 4.0
		strings.Replace(base, `"web"`, `"w\u0065b"`, 1),                                           // escapes
		strings.Replace(base, `"note":{"a":1,"b":[1,"x"]}`, `"note":{"b":[1,"\u0078"],"a":1}`, 1), // order inside an unknown member
		`{"chargeParam":{"isAutoRenew":false,"isAutoPay":1,"periodNum":3,"periodType":2,"chargingMode":1},"count":2,"note":{"a":1,"b":[1,"x"]},` +
			`"bandSize":4,"instanceNamePrefix":"web","regionId":"cn-north-4","bandSkuId":"kp.band.bgp.standard","instanceSkuId":"kp.pro.2u4g","os":"AOSP11"}`,
	} {
		if got := digest(same); got != want {
			t.Errorf("%s: digest %s, want %s (the same purchase)", same, got, want)
		}
	}
	for _, other := range []string{
		strings.Replace(base, `"count":2`, `"count":3`, 1),
		strings.Replace(base, `"isAutoPay":1`, `"isAutoPay":0`, 1),
		strings.Replace(base, `"isAutoRenew":false`, `"isAutoRenew":true`, 1),
		strings.Replace(base, `"periodNum":3`, `"periodNum":4`, 1),
		strings.Replace(base, `"web"`, `"Web"`, 1),
		strings.Replace(base, `"note":{"a":1,"b":[1,"x"]}`, `"note":{"a":2,"b":[1,"x"]}`, 1),
		strings.Replace(base, `"note":{"a":1,"b":[1,"x"]}`, `"note":{"a":1,"b":["x",1]}`, 1),
		strings.Replace(base, `"note":{"a":1,"b":[1,"x"]},`, ``, 1),
		strings.Replace(base, `"isAutoPay":1`, `"isAutoPay":1,"coupon":"x"`, 1),
	} {
		if got := digest(other); got == want {
			t.Errorf("%s: the same digest as the first body, want another purchase", other)
		}
	}
}
