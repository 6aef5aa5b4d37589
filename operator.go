package phonefleet

import (
	"context"
	"time"
)

// OperatorDomain is the built-in IAM domain of operators: a tenant row of
// that name holds the operator users, who sign in with POST /v3/auth/tokens
// with this domain. No tenant may be created under this name (see
// ValidateTenantName), and the domain never holds instances: its users'
// tokens carry operator actions only.
const OperatorDomain = "phonefleet-operators"

// Operator roles.
const (
	RoleOperatorAdmin  = "operator-admin"
	RoleOperatorViewer = "operator-viewer"
)

// Operator actions: what an operator token may do on the admin API. Tenant
// tokens never carry them; operator tokens carry nothing else.
const (
	ActionAdminRead  = "phonefleet:admin:read"
	ActionAdminWrite = "phonefleet:admin:write"
)

// OperatorRoleActions returns the actions of an operator role, or EInvalid.
func OperatorRoleActions(role string) ([]string, error) {
	switch role {
	case RoleOperatorAdmin:
		return []string{ActionAdminRead, ActionAdminWrite}, nil
	case RoleOperatorViewer:
		return []string{ActionAdminRead}, nil
	}
	return nil, Errorf(EInvalid, "role %q must be %q or %q", role, RoleOperatorAdmin, RoleOperatorViewer)
}

// UserRoleActions returns the actions of a user's role in tenantName: the
// operator roles in the operator domain, the tenant roles anywhere else.
// An operator's role is stored as the tenant role of the same rank
// (OperatorStoredRole), so a stored admin or viewer of the operator domain
// is an operator-admin or operator-viewer.
func UserRoleActions(tenantName, role string) ([]string, error) {
	if tenantName == OperatorDomain {
		return OperatorRoleActions(OperatorRole(role))
	}
	return RoleActions(role)
}

// OperatorStoredRole returns the role an operator's role is stored as: the
// tenant role of the same rank (admin for operator-admin, viewer for
// operator-viewer), which only the operator domain reads as an operator
// role. Any other role is returned as it is.
func OperatorStoredRole(role string) string {
	switch role {
	case RoleOperatorAdmin:
		return RoleAdmin
	case RoleOperatorViewer:
		return RoleViewer
	}
	return role
}

// OperatorRole returns the operator role a stored role of the operator
// domain stands for; any other role is returned as it is.
func OperatorRole(stored string) string {
	switch stored {
	case RoleAdmin:
		return RoleOperatorAdmin
	case RoleViewer:
		return RoleOperatorViewer
	}
	return stored
}

// ValidateTenantName returns EInvalid if name cannot be a new tenant's: not
// the shape Tenant.Validate asks, or the reserved operator domain.
func ValidateTenantName(name string) error {
	if name == OperatorDomain {
		return Errorf(EInvalid, "tenant name %q is reserved for operators", name)
	}
	return (&Tenant{Name: name}).Validate()
}

// IsOperator reports whether the principal is an operator: a user of the
// operator domain whose token carries an operator action.
func (p *Principal) IsOperator() bool {
	return p != nil && p.TenantName == OperatorDomain && (p.Can(ActionAdminRead) || p.Can(ActionAdminWrite))
}

// ESuspended is KooPhone's "Services not subscribed." (HTTP 400): every API
// of a suspended tenant answers it.
const ESuspended = "KOOPHONE.API.1004"

// MsgSuspended is the message of ESuspended.
const MsgSuspended = "Services not subscribed."

// Admin API codes, phonefleet's own: the thing named does not exist (404),
// or the change conflicts with what the store holds (409): a name taken, a
// tenant that still holds instances.
const (
	EAdminNotFound = "PHONEFLEET.ADMIN.0001"
	EAdminConflict = "PHONEFLEET.ADMIN.0002"
)

// TenantUsage is a tenant with what it holds, for operators: its phones by
// state (released ones included), its quota use (Tenant.HeldInstances of
// Tenant.MaxInstances), and what it bought and was refunded this month.
type TenantUsage struct {
	*Tenant
	Instances map[InstanceState]int `json:"instances"`
	MonthMoney
}

// MonthMoney is what a tenant bought (its orders' totals; pay-per-use
// orders are not billed up front and add nothing) and was refunded in one
// calendar month, UTC, of its business time, in minor units of Currency.
type MonthMoney struct {
	// Month is the month, "2006-01".
	Month        string `json:"month"`
	MonthRevenue int64  `json:"month_revenue"`
	MonthRefunds int64  `json:"month_refunds"`
	Currency     string `json:"currency"`
}

// MonthKey returns the calendar month (UTC) of t, "2006-01": the month a
// tenant's MonthMoney covers when its business time is t.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

// MonthStart returns the first instant of t's calendar month, UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// AdminService is what operators do to tenants and the catalogue beyond
// creating them. Both stores implement it.
type AdminService interface {
	// SetTenantSuspended suspends (at now) or resumes the tenant called
	// name and returns it; ENotFound if there is no such tenant. Suspending
	// a suspended tenant keeps its first suspension time.
	SetTenantSuspended(ctx context.Context, name string, suspended bool) (*Tenant, error)
	// SuspendedTenantIDs returns the IDs of the suspended tenants.
	SuspendedTenantIDs(ctx context.Context) ([]string, error)
	// DeleteTenant removes the tenant called name with its tokens, users,
	// access keys and released instances' records. ENotFound if there is
	// no such tenant; EConflict if it holds an instance that is not
	// released.
	DeleteTenant(ctx context.Context, name string) error
	// CountInstancesByState returns, per tenant ID, how many instances it
	// has in each state.
	CountInstancesByState(ctx context.Context) (map[string]map[InstanceState]int, error)
	// SumMonthMoney returns, per tenant ID, the totals of its orders and
	// refunds made in the calendar month (MonthKey) of its business time
	// now, in one aggregate query. A tenant with neither in that month may
	// be missing, or present with zero sums.
	SumMonthMoney(ctx context.Context) (map[string]MonthMoney, error)
	// SetSKUPrice sets the prices of the SKU in one of its regions (p.Region)
	// and returns the SKU; ENotFound for an unknown SKU, EInvalid for a
	// region the SKU is not sold in or a price that is not positive.
	SetSKUPrice(ctx context.Context, id string, p RegionPrice) (*SKU, error)
	// RetireSKU stops selling the SKU (at now) and returns it; ENotFound
	// for an unknown SKU. Its instances keep running; retiring twice keeps
	// the first time.
	RetireSKU(ctx context.Context, id string) (*SKU, error)
}

// RegionPrice is a SKU's price in one region, overriding its base prices
// there.
type RegionPrice struct {
	Region     string `json:"region"`
	MonthPrice int64  `json:"month_price"`
	YearPrice  int64  `json:"year_price"`
	HourPrice  int64  `json:"hour_price"`
}

// Validate returns EInvalid naming the field that is wrong.
func (p *RegionPrice) Validate() error {
	switch {
	case !regionRE.MatchString(p.Region):
		return Errorf(EInvalid, "region %q must be 1-64 characters of [a-z0-9-]", p.Region)
	case p.MonthPrice <= 0:
		return Errorf(EInvalid, "month_price must be positive minor units")
	case p.YearPrice <= 0:
		return Errorf(EInvalid, "year_price must be positive minor units")
	case p.HourPrice <= 0:
		return Errorf(EInvalid, "hour_price must be positive minor units")
	}
	return nil
}
