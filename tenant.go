package phonefleet

import (
	"context"
	"regexp"
	"time"
)

// Tenant is a customer of the control plane: it owns tokens, orders and
// instances.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`

	// MaxInstances is the most instances the tenant may hold that are not
	// released; 0 is unlimited. The CLI gives new tenants
	// DefaultMaxInstances.
	MaxInstances int `json:"max_instances"`
	// HeldInstances is how many instances the tenant holds that are not
	// released (running or deleting). The store keeps it; it is read-only.
	HeldInstances int `json:"held_instances"`

	// SuspendedAt is when an operator suspended the tenant; nil while it is
	// not. Every API of a suspended tenant answers ESuspended; its
	// instances keep running.
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`

	// GracePeriod and RetentionPeriod are the tenant's own lifecycle
	// periods (a customer level); nil uses the deployment's (serve
	// --grace-period, --retention-period).
	GracePeriod     *Period `json:"grace_period,omitempty"`
	RetentionPeriod *Period `json:"retention_period,omitempty"`
}

// Period is a span of business time, written in JSON as a Go duration
// ("360h0m0s").
type Period time.Duration

// MarshalJSON writes the duration string.
func (p Period) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(p).String() + `"`), nil
}

// UnmarshalJSON reads a duration string.
func (p *Period) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return Errorf(EInvalid, "period must be a duration string such as \"360h\"")
	}
	d, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return Errorf(EInvalid, "period: %v", err)
	}
	*p = Period(d)
	return nil
}

// TenantPeriodsUpdate changes a tenant's lifecycle periods: a nil field is
// left as it is.
type TenantPeriodsUpdate struct {
	Grace     *time.Duration
	Retention *time.Duration
}

// Validate returns EInvalid naming the field unless each period given is
// 0 to MaxLifecyclePeriod.
func (u *TenantPeriodsUpdate) Validate() error {
	if u.Grace != nil {
		if err := ValidateLifecyclePeriod("grace period", *u.Grace); err != nil {
			return err
		}
	}
	if u.Retention != nil {
		if err := ValidateLifecyclePeriod("retention period", *u.Retention); err != nil {
			return err
		}
	}
	return nil
}

var tenantNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate returns EInvalid if the tenant's name is not 1–64 characters of
// [A-Za-z0-9._-] starting with a letter or digit, or its quota is out of
// range.
func (t *Tenant) Validate() error {
	if !tenantNameRE.MatchString(t.Name) {
		return Errorf(EInvalid, "tenant name %q must be 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit", t.Name)
	}
	return ValidateMaxInstances(t.MaxInstances)
}

// TenantService manages tenants.
type TenantService interface {
	// CreateTenant assigns t a new ID and stores it. EConflict if the name is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// FindTenantByName returns ENotFound if there is no such tenant.
	FindTenantByName(ctx context.Context, name string) (*Tenant, error)
	// FindTenants returns all tenants ordered by name.
	FindTenants(ctx context.Context) ([]*Tenant, error)
	// UpdateTenantPeriods sets the lifecycle periods of the tenant called
	// name and returns the tenant. ENotFound if there is no such tenant,
	// EInvalid for a period out of range. Instances already past a new
	// boundary take their step at the next sweep.
	UpdateTenantPeriods(ctx context.Context, name string, u TenantPeriodsUpdate) (*Tenant, error)
}
