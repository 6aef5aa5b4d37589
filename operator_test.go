package phonefleet_test

import (
	"slices"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestOperatorRoles checks that operator roles carry operator actions only,
// tenant roles tenant actions only, and that the operator domain reads its
// stored roles as operator roles.
func TestOperatorRoles(t *testing.T) {
	for _, tt := range []struct {
		tenant, role string
		want         []string
	}{
		{phonefleet.OperatorDomain, phonefleet.RoleOperatorAdmin, []string{phonefleet.ActionAdminRead, phonefleet.ActionAdminWrite}},
		{phonefleet.OperatorDomain, phonefleet.RoleOperatorViewer, []string{phonefleet.ActionAdminRead}},
		{phonefleet.OperatorDomain, phonefleet.RoleAdmin, []string{phonefleet.ActionAdminRead, phonefleet.ActionAdminWrite}}, // stored form
		{phonefleet.OperatorDomain, phonefleet.RoleViewer, []string{phonefleet.ActionAdminRead}},
		{"acme", phonefleet.RoleViewer, []string{phonefleet.ActionQueryInstanceSku, phonefleet.ActionQueryInstanceBatch, phonefleet.ActionQueryBatchShowInstance}},
	} {
		got, err := phonefleet.UserRoleActions(tt.tenant, tt.role)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Fatalf("UserRoleActions(%q, %q)=%v, %v; want %v", tt.tenant, tt.role, got, err, tt.want)
		}
	}
	for _, role := range []string{phonefleet.RoleOperatorAdmin, phonefleet.RoleOperatorViewer} {
		if _, err := phonefleet.UserRoleActions("acme", role); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
			t.Fatalf("a tenant user with role %s: %v, want EInvalid", role, err)
		}
		if got := phonefleet.OperatorRole(phonefleet.OperatorStoredRole(role)); got != role {
			t.Fatalf("role %s stored and read back as %s", role, got)
		}
	}
	admin, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
	for _, a := range admin {
		if a == phonefleet.ActionAdminRead || a == phonefleet.ActionAdminWrite {
			t.Fatalf("the tenant admin role carries operator action %s", a)
		}
	}
}

// TestPrincipal_IsOperator checks that only the operator domain's tokens
// with an operator action are operators.
func TestPrincipal_IsOperator(t *testing.T) {
	read := []string{phonefleet.ActionAdminRead}
	for _, tt := range []struct {
		p    *phonefleet.Principal
		want bool
	}{
		{&phonefleet.Principal{TenantName: phonefleet.OperatorDomain, Actions: read}, true},
		{&phonefleet.Principal{TenantName: "acme", Actions: read}, false},
		{&phonefleet.Principal{TenantName: phonefleet.OperatorDomain, Actions: []string{phonefleet.ActionInstanceDelete}}, false},
		{nil, false},
	} {
		if got := tt.p.IsOperator(); got != tt.want {
			t.Fatalf("IsOperator(%+v)=%v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestValidateTenantName(t *testing.T) {
	if err := phonefleet.ValidateTenantName(phonefleet.OperatorDomain); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Fatalf("the operator domain as a tenant name: %v, want EInvalid", err)
	}
	if err := phonefleet.ValidateTenantName("acme"); err != nil {
		t.Fatal(err)
	}
}

// TestSKU_PricesIn checks that a region's prices replace the base prices
// there only.
func TestSKU_PricesIn(t *testing.T) {
	s := &phonefleet.SKU{MonthPrice: 1, YearPrice: 2, HourPrice: 3, Prices: []phonefleet.RegionPrice{{Region: "b", MonthPrice: 10, YearPrice: 20, HourPrice: 30}}}
	if m, y, h := s.PricesIn("b"); m != 10 || y != 20 || h != 30 {
		t.Fatalf("PricesIn(b)=%d %d %d", m, y, h)
	}
	if m, y, h := s.PricesIn("a"); m != 1 || y != 2 || h != 3 {
		t.Fatalf("PricesIn(a)=%d %d %d", m, y, h)
	}
}
