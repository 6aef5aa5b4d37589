package http

import (
	"testing"

	"github.com/phonefleet/phonefleet"
)

// FuzzDecodeAdmin checks that every admin API body decoder never panics on
// any body, that a failure is a KOOPHONE.API.1000 *phonefleet.Error, and
// that what a decoder accepts passes the domain's own validation.
func FuzzDecodeAdmin(f *testing.F) {
	for _, seed := range []string{
		`{"name":"acme","max_instances":5}`,
		`{"tenant":"acme","role":"viewer","ttl":"1h","name":"ci"}`,
		`{"tenant":"acme","name":"alice","role":"admin","password":"pass-word-1"}`,
		`{"name":"root","role":"operator-admin","password":"pass-word-1"}`,
		`{"disabled":true}`, `{"password":"pass-word-2"}`,
		`{"region":"cn-north-4","month_price":2500,"year_price":25000,"hour_price":5}`,
		`{"id":"kp.x","type":"PROFESSIONAL","name":"X","band_sizes":[2,4],"regions":["eu-west-1"],"month_price":1,"year_price":2,"hour_price":3}`,
		`{"name":5}`, `[]`, `{"name":"phonefleet-operators"}`, `{"ttl":"-1h","tenant":"a"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, err := decodeAdminTenantCreate(body); err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
		} else if phonefleet.ValidateTenantName(req.Name) != nil || phonefleet.ValidateMaxInstances(req.MaxInstances) != nil {
			t.Fatalf("accepted tenant %+v", req)
		}
		if req, err := decodeAdminToken(body); err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
		} else if _, rerr := phonefleet.RoleActions(req.Role); rerr != nil || req.Tenant == "" || req.TTL <= 0 || len(req.Name) > 64 {
			t.Fatalf("accepted token request %+v", req)
		}
		for _, operator := range []bool{false, true} {
			if req, err := decodeAdminUser(body, operator); err != nil {
				assertDecodeError(t, err, phonefleet.EInvalid)
			} else if _, rerr := phonefleet.UserRoleActions(req.Tenant, req.Role); rerr != nil || !phonefleet.ValidUserName(req.Name) ||
				phonefleet.ValidatePassword(req.Password) != nil || (req.Tenant == phonefleet.OperatorDomain) != operator {
				t.Fatalf("accepted user %+v (operator %v)", req, operator)
			}
		}
		if req, err := decodeAdminUserUpdate(body); err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
		} else if !req.Disabled && (req.Password == nil || phonefleet.ValidatePassword(*req.Password) != nil) {
			t.Fatalf("accepted update %+v", req)
		}
		if p, err := decodeAdminPrice(body); err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
		} else if p.Validate() != nil {
			t.Fatalf("accepted price %+v", p)
		}
		if sku, err := decodeAdminSKU(body); err != nil {
			assertDecodeError(t, err, phonefleet.EInvalid)
		} else if sku.Validate() != nil {
			t.Fatalf("accepted sku %+v", sku)
		}
	})
}
