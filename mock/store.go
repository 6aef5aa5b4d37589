// Package mock provides function-field mocks of the phonefleet services for
// tests of the packages that use them. Calling a method whose function field
// is nil panics, so a test states exactly which calls it expects.
package mock

import (
	"context"
	"time"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.Store = (*Store)(nil)

// Store is a mock of phonefleet.Store: each method calls the function field
// of the same name with an Fn suffix.
type Store struct {
	CreateTenantFn     func(ctx context.Context, t *phonefleet.Tenant) error
	FindTenantByNameFn func(ctx context.Context, name string) (*phonefleet.Tenant, error)
	FindTenantsFn      func(ctx context.Context) ([]*phonefleet.Tenant, error)

	CreateTokenFn     func(ctx context.Context, t *phonefleet.Token) error
	FindTokenByHashFn func(ctx context.Context, hash []byte) (*phonefleet.Token, error)
	FindTokensFn      func(ctx context.Context, filter phonefleet.TokenFilter) ([]*phonefleet.Token, error)
	RevokeTokenFn     func(ctx context.Context, id string) error

	FindSKUsFn  func(ctx context.Context) ([]*phonefleet.SKU, error)
	CreateSKUFn func(ctx context.Context, s *phonefleet.SKU) error

	PurchaseFn           func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error)
	FindInstancesFn      func(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error)
	FindInstanceStatesFn func(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceState, error)
	UnsubscribeFn        func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error)

	FindRefundsFn func(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error)

	ClaimReleaseJobsFn   func(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.ReleaseJob, error)
	CompleteReleaseJobFn func(ctx context.Context, instanceID, owner string) error
	FailReleaseJobFn     func(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error
	RetryReleaseJobFn    func(ctx context.Context, instanceID string) error
	FindReleaseJobsFn    func(ctx context.Context, filter phonefleet.ReleaseJobFilter) ([]*phonefleet.ReleaseJob, error)

	CreateAuditEventFn func(ctx context.Context, e *phonefleet.AuditEvent) error
	FindAuditEventsFn  func(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error)

	PingFn  func(ctx context.Context) error
	CloseFn func() error
}

// CreateTenant calls CreateTenantFn.
func (s *Store) CreateTenant(ctx context.Context, t *phonefleet.Tenant) error {
	return s.CreateTenantFn(ctx, t)
}

// FindTenantByName calls FindTenantByNameFn.
func (s *Store) FindTenantByName(ctx context.Context, name string) (*phonefleet.Tenant, error) {
	return s.FindTenantByNameFn(ctx, name)
}

// FindTenants calls FindTenantsFn.
func (s *Store) FindTenants(ctx context.Context) ([]*phonefleet.Tenant, error) {
	return s.FindTenantsFn(ctx)
}

// CreateToken calls CreateTokenFn.
func (s *Store) CreateToken(ctx context.Context, t *phonefleet.Token) error {
	return s.CreateTokenFn(ctx, t)
}

// FindTokenByHash calls FindTokenByHashFn.
func (s *Store) FindTokenByHash(ctx context.Context, hash []byte) (*phonefleet.Token, error) {
	return s.FindTokenByHashFn(ctx, hash)
}

// FindTokens calls FindTokensFn.
func (s *Store) FindTokens(ctx context.Context, filter phonefleet.TokenFilter) ([]*phonefleet.Token, error) {
	return s.FindTokensFn(ctx, filter)
}

// RevokeToken calls RevokeTokenFn.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	return s.RevokeTokenFn(ctx, id)
}

// FindSKUs calls FindSKUsFn.
func (s *Store) FindSKUs(ctx context.Context) ([]*phonefleet.SKU, error) {
	return s.FindSKUsFn(ctx)
}

// CreateSKU calls CreateSKUFn.
func (s *Store) CreateSKU(ctx context.Context, sku *phonefleet.SKU) error {
	return s.CreateSKUFn(ctx, sku)
}

// Purchase calls PurchaseFn.
func (s *Store) Purchase(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
	return s.PurchaseFn(ctx, req)
}

// FindInstances calls FindInstancesFn.
func (s *Store) FindInstances(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error) {
	return s.FindInstancesFn(ctx, filter)
}

// FindInstanceStates calls FindInstanceStatesFn.
func (s *Store) FindInstanceStates(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceState, error) {
	return s.FindInstanceStatesFn(ctx, tenantID, ids)
}

// Unsubscribe calls UnsubscribeFn.
func (s *Store) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	return s.UnsubscribeFn(ctx, req)
}

// FindRefunds calls FindRefundsFn.
func (s *Store) FindRefunds(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error) {
	return s.FindRefundsFn(ctx, filter)
}

// ClaimReleaseJobs calls ClaimReleaseJobsFn.
func (s *Store) ClaimReleaseJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.ReleaseJob, error) {
	return s.ClaimReleaseJobsFn(ctx, owner, limit, lease)
}

// CompleteReleaseJob calls CompleteReleaseJobFn.
func (s *Store) CompleteReleaseJob(ctx context.Context, instanceID, owner string) error {
	return s.CompleteReleaseJobFn(ctx, instanceID, owner)
}

// FailReleaseJob calls FailReleaseJobFn.
func (s *Store) FailReleaseJob(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error {
	return s.FailReleaseJobFn(ctx, instanceID, owner, lastError, next, final)
}

// RetryReleaseJob calls RetryReleaseJobFn.
func (s *Store) RetryReleaseJob(ctx context.Context, instanceID string) error {
	return s.RetryReleaseJobFn(ctx, instanceID)
}

// FindReleaseJobs calls FindReleaseJobsFn.
func (s *Store) FindReleaseJobs(ctx context.Context, filter phonefleet.ReleaseJobFilter) ([]*phonefleet.ReleaseJob, error) {
	return s.FindReleaseJobsFn(ctx, filter)
}

// CreateAuditEvent calls CreateAuditEventFn.
func (s *Store) CreateAuditEvent(ctx context.Context, e *phonefleet.AuditEvent) error {
	return s.CreateAuditEventFn(ctx, e)
}

// FindAuditEvents calls FindAuditEventsFn.
func (s *Store) FindAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	return s.FindAuditEventsFn(ctx, filter)
}

// Ping calls PingFn.
func (s *Store) Ping(ctx context.Context) error { return s.PingFn(ctx) }

// Close calls CloseFn.
func (s *Store) Close() error { return s.CloseFn() }
