package http_test

import (
	"context"
	"errors"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestAuditFailure_Store checks that a call the store refuses or fails is
// audited once, by the HTTP layer (the stores write only successful calls'
// events), with the caller, the request ID, the named instance IDs and the
// code and message the client got.
func TestAuditFailure_Store(t *testing.T) {
	for _, tc := range []struct {
		name, path, body, action string
		err                      error
		code, msg                string
		ids                      []string
	}{
		{"UnsubscribeNotOwned", "/v1/instances/delete", `{"instanceIdList":["a1","zz"]}`, phonefleet.ActionInstanceDelete,
			phonefleet.Errorf(phonefleet.ENotOwned, "instances do not belong to the tenant: zz"),
			phonefleet.ENotOwned, "instances do not belong to the tenant: zz", []string{"a1", "zz"}},
		{"UnsubscribeInternal", "/v1/instances/delete", `{"instanceIdList":["a1"]}`, phonefleet.ActionInstanceDelete,
			errors.New("disk I/O error"), phonefleet.EInternal, "Internal service error.", []string{"a1"}},
		{"PurchaseSKUNotFound", "/v1/instances/create",
			`{"os":"AOSP11","instanceSkuId":"kp.nope","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4","instanceNamePrefix":"p","bandSize":2,"count":1,"chargeParam":{"chargingMode":0}}`,
			phonefleet.ActionInstanceCreate, phonefleet.Errorf(phonefleet.ESKUNotFound, `instanceSkuId "kp.nope" is not in the catalogue`),
			phonefleet.ESKUNotFound, `instanceSkuId "kp.nope" is not in the catalogue`, []string{}},
		{"RebootInternal", "/v1/instances/reboot", `{"instance_ids":["a1","a2"]}`, phonefleet.ActionInstanceReboot,
			errors.New("disk I/O error"), phonefleet.EInternal, "Internal service error.", []string{"a1", "a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := MustOpenServer(t, func(s *TestServer) {
				s.Store.UnsubscribeFn = func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
					return nil, tc.err
				}
				s.Store.PurchaseFn = func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
					return nil, nil, tc.err
				}
				s.Store.StartCommandsFn = func(ctx context.Context, req *phonefleet.CommandRequest) (*phonefleet.CommandPlan, error) {
					return nil, tc.err
				}
			})
			resp := s.Do(t, "POST", tc.path, map[string]string{
				"X-Auth-Token": adminToken, "Content-Type": "application/json", "X-Request-Id": "req-store",
			}, tc.body)
			if resp.StatusCode == 200 {
				t.Fatalf("StatusCode=200 for a store error: %s", resp.Body)
			}
			if n := len(s.Audits()); n != 1 {
				t.Fatalf("audit events=%d, want exactly 1", n)
			}
			e := assertAudited(t, s, "req-store", tc.action, tc.code, tc.msg)
			if e.TenantID != "t1" || e.TokenID != "tkadmin" {
				t.Fatalf("audited tenant/token=%q/%q, want t1/tkadmin", e.TenantID, e.TokenID)
			}
			if len(e.InstanceIDs) != len(tc.ids) {
				t.Fatalf("audited InstanceIDs=%v, want %v", e.InstanceIDs, tc.ids)
			}
			for i := range tc.ids {
				if e.InstanceIDs[i] != tc.ids[i] {
					t.Fatalf("audited InstanceIDs=%v, want %v", e.InstanceIDs, tc.ids)
				}
			}
		})
	}
}
