// Package phonefleet is the domain of the phonefleet control plane: its
// types, the KooPhone error codes, the service interfaces that the stores
// implement, and the business rules as pure functions (PlanPurchase,
// PlanUnsubscribe, ComputeRefund).
//
// Every validation rule is here, once: a Validate method or function of
// the value it checks. Whoever builds a value calls it: the HTTP layer on
// the requests it decodes, the CLI on what it reads from flags, and the
// store methods that write a whole value a caller built (CreateTenant,
// CreateToken, CreateSKU, Import, ClaimReleaseJobs), so that no caller can
// store an invalid one. Stores never re-implement a rule.
package phonefleet

import "context"

// MaxIDCollisionAttempts is how many times a store runs a purchase whose new
// random order or instance ID collided with an existing one (a unique key
// of orders or instances) before it gives up with an internal error. Both
// stores retry on those keys only.
const MaxIDCollisionAttempts = 5

// Store is everything a backend (SQLite or PostgreSQL) provides. Each method
// is one whole operation in one transaction.
type Store interface {
	TenantService
	QuotaService
	TokenService
	UserService
	AccessKeyService
	SKUService
	InstanceService
	RefundService
	CommandService
	LifecycleService
	AuditService
	ReplayService
	AdminService

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
