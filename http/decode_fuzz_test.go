package http

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// The seed corpus is in testdata/fuzz/<FuzzName>/; these run as unit tests
// with every `go test`.

// FuzzDecodeDeleteRequest checks that decoding any body never panics, that
// a success satisfies every limit of the unsubscribe request (docs/api.md),
// and that a failure is a KOOPHONE.API.1000 *phonefleet.Error.
func FuzzDecodeDeleteRequest(f *testing.F) {
	f.Add([]byte(`{"instanceIdList":["XvH39QVW"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := decodeDeleteRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
			return
		}
		if len(ids) < 1 || len(ids) > phonefleet.MaxUnsubscribeIDs {
			t.Fatalf("decoded %d IDs, want 1-100", len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !phonefleet.ValidInstanceID(id) || seen[id] {
				t.Fatalf("decoded invalid or duplicate ID %q", id)
			}
			seen[id] = true
		}
		if !json.Valid(body) {
			t.Fatalf("decoded IDs from invalid JSON %q", body)
		}
		// encoding/json reads the same list (it matches keys without case,
		// so only a body whose one key spelling is exact is compared).
		var v struct {
			IDs []string `json:"instanceIdList"`
		}
		if err := json.Unmarshal(body, &v); err == nil && !slices.Equal(v.IDs, ids) && countKeysFold(body) == 1 {
			t.Fatalf("decoded %q, encoding/json reads %q", ids, v.IDs)
		}
	})
}

// countKeysFold counts top-level keys that equal instanceIdList ignoring
// case.
func countKeysFold(body []byte) int {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return 0
	}
	n := 0
	for k := range m {
		if strings.EqualFold(k, "instanceIdList") {
			n++
		}
	}
	return n
}

// FuzzDecodeCreateRequest checks that decoding any body never panics, that
// a success is a request within every limit of the create request
// (docs/api.md), and that a failure is a *phonefleet.Error with a parameter
// code.
func FuzzDecodeCreateRequest(f *testing.F) {
	f.Add([]byte(`{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"web","bandSize":4,"count":2,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":3,"isAutoPay":1,"isAutoRenew":0}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreateRequest(body)
		if err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid, phonefleet.EOSRequired, phonefleet.EMonthPeriod, phonefleet.EYearPeriod)
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("decoded a request that does not validate: %v", err)
		}
		if !slices.Contains(phonefleet.OSImages, req.OS) {
			t.Fatalf("os=%q", req.OS)
		}
		for _, s := range []string{req.InstanceSKUID, req.BandSKUID, req.RegionID} {
			if len(s) < 1 || len(s) > phonefleet.MaxCatalogueIDLen {
				t.Fatalf("catalogue ID %q out of limits", s)
			}
		}
		if n := utf8.RuneCountInString(req.NamePrefix); n < 1 || n > phonefleet.MaxNamePrefixLen {
			t.Fatalf("instanceNamePrefix %q out of limits", req.NamePrefix)
		}
		if req.BandSize < 1 || req.Count < 1 || req.Count > phonefleet.MaxPurchaseCount {
			t.Fatalf("bandSize=%d count=%d", req.BandSize, req.Count)
		}
		switch {
		case req.ChargingMode == phonefleet.ChargingModePayPerUse:
		case req.ChargingMode == phonefleet.ChargingModePrepaid && req.PeriodType == phonefleet.PeriodTypeMonth && req.PeriodNum >= 1 && req.PeriodNum <= 9:
		case req.ChargingMode == phonefleet.ChargingModePrepaid && req.PeriodType == phonefleet.PeriodTypeYear && req.PeriodNum >= 1 && req.PeriodNum <= 3:
		default:
			t.Fatalf("chargeParam %d/%d/%d out of limits", req.ChargingMode, req.PeriodType, req.PeriodNum)
		}
		if req.TenantID != "" || req.TokenID != "" || req.RequestID != "" {
			t.Fatalf("decoder filled in the caller's fields: %+v", req)
		}
		if !json.Valid(body) {
			t.Fatalf("decoded a request from invalid JSON %q", body)
		}
		// The same body with other whitespace and member order (keys
		// sorted, indented) is the same purchase.
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			re, _ := json.MarshalIndent(v, "", "  ")
			req2, err := decodeCreateRequest(re)
			if err != nil || req2.Digest() != req.Digest() {
				t.Fatalf("%s re-encoded as %s: %v, digest %s, want %s", body, re, err, req2.Digest(), req.Digest())
			}
		}
	})
}

// assertDecodeError fails unless err is a *phonefleet.Error (not wrapped)
// with one of codes and a message.
func assertDecodeError(t *testing.T, err error, codes ...string) {
	t.Helper()
	e, ok := err.(*phonefleet.Error)
	if !ok {
		t.Fatalf("error %#v is not a *phonefleet.Error", err)
	}
	if !slices.Contains(codes, e.Code) || e.Message == "" {
		t.Fatalf("error %q %q, want one of %q with a message", e.Code, e.Message, codes)
	}
}
