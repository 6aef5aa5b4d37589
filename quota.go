package phonefleet

import (
	"context"
	"time"
)

// EQuota is phonefleet's own code for a purchase that would take a tenant
// past its instance quota; KooPhone publishes none for this. HTTP 400.
const EQuota = "PHONEFLEET.QUOTA.0001"

// DefaultMaxInstances is the instance quota of a new tenant unless the
// operator gives another. Tenants that existed before quotas keep 0
// (unlimited), so an upgrade refuses nothing that worked before.
const DefaultMaxInstances = 10000

// MaxMaxInstances bounds a quota an operator can set.
const MaxMaxInstances = 1 << 30

// CheckQuota returns EQuota if a tenant holding held instances (those not
// released) may not buy count more under its quota max; 0 is unlimited.
func CheckQuota(held, max, count int) error {
	if max > 0 && held+count > max {
		return Errorf(EQuota, "instance quota exceeded: tenant holds %d of %d; this order asks for %d", held, max, count)
	}
	return nil
}

// ValidateMaxInstances returns EInvalid unless n is a quota an operator may
// set: 0 (unlimited) to MaxMaxInstances.
func ValidateMaxInstances(n int) error {
	if n < 0 || n > MaxMaxInstances {
		return Errorf(EInvalid, "max instances must be 0 (unlimited) to %d, got %d", MaxMaxInstances, n)
	}
	return nil
}

// QuotaService changes tenants' quotas.
type QuotaService interface {
	// UpdateTenantQuota sets the instance quota of the tenant called name
	// and returns the tenant. ENotFound if there is no such tenant, EInvalid
	// for a quota ValidateMaxInstances refuses. A quota below what the
	// tenant holds refuses further purchases but releases nothing.
	UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*Tenant, error)
}

// PurchaseReplayWindow is how long a purchase's X-Request-Id identifies it:
// a purchase by the same tenant with the same request ID within this time
// buys nothing and answers the first purchase again.
const PurchaseReplayWindow = 24 * time.Hour
