// Package phonefleet is the domain of the phonefleet control plane: its
// types, the KooPhone error codes, the service interfaces that the stores
// implement, and the business rules as pure functions (PlanPurchase,
// PlanUnsubscribe, ComputeRefund).
package phonefleet

import "context"

// Store is everything a backend (SQLite or PostgreSQL) provides. Each method
// is one whole operation in one transaction.
type Store interface {
	TenantService
	TokenService
	SKUService
	InstanceService
	RefundService
	ReleaseJobService
	AuditService

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
