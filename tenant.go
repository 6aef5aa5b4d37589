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
}

var tenantNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate returns EInvalid if the tenant's name is not 1–64 characters of
// [A-Za-z0-9._-] starting with a letter or digit.
func (t *Tenant) Validate() error {
	if !tenantNameRE.MatchString(t.Name) {
		return Errorf(EInvalid, "tenant name %q must be 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit", t.Name)
	}
	return nil
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
