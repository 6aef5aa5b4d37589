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
}
