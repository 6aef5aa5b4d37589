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

	UpdateTenantQuotaFn   func(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error)
	UpdateTenantPeriodsFn func(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error)
	SweepLifecycleFn      func(ctx context.Context, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error)

	CreateTokenFn     func(ctx context.Context, t *phonefleet.Token) error
	FindTokenByHashFn func(ctx context.Context, hash []byte) (*phonefleet.Token, error)
	FindTokensFn      func(ctx context.Context, filter phonefleet.TokenFilter) ([]*phonefleet.Token, error)
	RevokeTokenFn     func(ctx context.Context, id string) error

	CreateUserFn func(ctx context.Context, u *phonefleet.User) error
	FindUserFn   func(ctx context.Context, tenantName, name string) (*phonefleet.User, error)
	FindUsersFn  func(ctx context.Context, filter phonefleet.UserFilter) ([]*phonefleet.User, error)
	UpdateUserFn func(ctx context.Context, id string, upd phonefleet.UserUpdate) (*phonefleet.User, error)

	CreateAccessKeyFn func(ctx context.Context, k *phonefleet.AccessKey) error
	FindAccessKeyFn   func(ctx context.Context, id string) (*phonefleet.AccessKey, error)
	FindAccessKeysFn  func(ctx context.Context, filter phonefleet.AccessKeyFilter) ([]*phonefleet.AccessKey, error)
	DeleteAccessKeyFn func(ctx context.Context, id string) error

	FindSKUsFn  func(ctx context.Context) ([]*phonefleet.SKU, error)
	CreateSKUFn func(ctx context.Context, s *phonefleet.SKU) error

	PurchaseFn             func(ctx context.Context, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error)
	FindInstancesFn        func(ctx context.Context, filter phonefleet.InstanceFilter) ([]*phonefleet.Instance, int, error)
	FindInstanceStatusesFn func(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceStatus, error)
	UnsubscribeFn          func(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error)
	DeletePayPerUseFn      func(ctx context.Context, req *phonefleet.DeletePayPerUseRequest) (*phonefleet.DeletePayPerUsePlan, error)
	AssignFn               func(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.AssignPlan, error)
	UnassignFn             func(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.CommandPlan, error)
	StartCommandsFn        func(ctx context.Context, req *phonefleet.CommandRequest) (*phonefleet.CommandPlan, error)
	PrepareFn              func(ctx context.Context, req *phonefleet.PrepareRequest) ([]phonefleet.PrepareStatus, error)

	FindRefundsFn func(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error)

	ClaimCommandsFn   func(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error)
	CompleteCommandFn func(ctx context.Context, jobID, owner string) error
	AcceptCommandFn   func(ctx context.Context, jobID, owner string, deadline time.Time) error
	FailCommandFn     func(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error
	ReportCommandFn   func(ctx context.Context, jobID string, r phonefleet.CommandReport) error
	RetryCommandFn    func(ctx context.Context, id string) error
	FindCommandsFn    func(ctx context.Context, filter phonefleet.CommandFilter) ([]*phonefleet.Command, error)

	RememberSignatureFn func(ctx context.Context, key string, until time.Time) (bool, error)

	CreateAuditEventFn func(ctx context.Context, e *phonefleet.AuditEvent) error
	// AuditFailureFn, if set, is called by AuditFailure; else AuditFailure
	// calls CreateAuditEventFn, as a store writes the event.
	AuditFailureFn     func(ctx context.Context, e *phonefleet.AuditEvent, cause error) error
	FindAuditEventsFn  func(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error)
	CountAuditEventsFn func(ctx context.Context, filter phonefleet.AuditFilter) (int, error)

	SetTenantSuspendedFn    func(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error)
	SuspendedTenantIDsFn    func(ctx context.Context) ([]string, error)
	DeleteTenantFn          func(ctx context.Context, name string) error
	CountInstancesByStateFn func(ctx context.Context) (map[string]map[phonefleet.InstanceState]int, error)
	SumMonthMoneyFn         func(ctx context.Context) (map[string]phonefleet.MonthMoney, error)
	SetSKUPriceFn           func(ctx context.Context, id string, p phonefleet.RegionPrice) (*phonefleet.SKU, error)
	RetireSKUFn             func(ctx context.Context, id string) (*phonefleet.SKU, error)

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

// UpdateTenantPeriods calls UpdateTenantPeriodsFn.
func (s *Store) UpdateTenantPeriods(ctx context.Context, name string, u phonefleet.TenantPeriodsUpdate) (*phonefleet.Tenant, error) {
	return s.UpdateTenantPeriodsFn(ctx, name, u)
}

// SweepLifecycle calls SweepLifecycleFn.
func (s *Store) SweepLifecycle(ctx context.Context, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
	return s.SweepLifecycleFn(ctx, def, limit)
}

// UpdateTenantQuota calls UpdateTenantQuotaFn.
func (s *Store) UpdateTenantQuota(ctx context.Context, name string, maxInstances int) (*phonefleet.Tenant, error) {
	return s.UpdateTenantQuotaFn(ctx, name, maxInstances)
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

// CreateUser calls CreateUserFn.
func (s *Store) CreateUser(ctx context.Context, u *phonefleet.User) error {
	return s.CreateUserFn(ctx, u)
}

// FindUser calls FindUserFn.
func (s *Store) FindUser(ctx context.Context, tenantName, name string) (*phonefleet.User, error) {
	return s.FindUserFn(ctx, tenantName, name)
}

// FindUsers calls FindUsersFn.
func (s *Store) FindUsers(ctx context.Context, filter phonefleet.UserFilter) ([]*phonefleet.User, error) {
	return s.FindUsersFn(ctx, filter)
}

// UpdateUser calls UpdateUserFn.
func (s *Store) UpdateUser(ctx context.Context, id string, upd phonefleet.UserUpdate) (*phonefleet.User, error) {
	return s.UpdateUserFn(ctx, id, upd)
}

// CreateAccessKey calls CreateAccessKeyFn.
func (s *Store) CreateAccessKey(ctx context.Context, k *phonefleet.AccessKey) error {
	return s.CreateAccessKeyFn(ctx, k)
}

// FindAccessKey calls FindAccessKeyFn.
func (s *Store) FindAccessKey(ctx context.Context, id string) (*phonefleet.AccessKey, error) {
	return s.FindAccessKeyFn(ctx, id)
}

// FindAccessKeys calls FindAccessKeysFn.
func (s *Store) FindAccessKeys(ctx context.Context, filter phonefleet.AccessKeyFilter) ([]*phonefleet.AccessKey, error) {
	return s.FindAccessKeysFn(ctx, filter)
}

// DeleteAccessKey calls DeleteAccessKeyFn.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	return s.DeleteAccessKeyFn(ctx, id)
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

// FindInstanceStatuses calls FindInstanceStatusesFn.
func (s *Store) FindInstanceStatuses(ctx context.Context, tenantID string, ids []string) (map[string]phonefleet.InstanceStatus, error) {
	return s.FindInstanceStatusesFn(ctx, tenantID, ids)
}

// Assign calls AssignFn.
func (s *Store) Assign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.AssignPlan, error) {
	return s.AssignFn(ctx, req)
}

// Unassign calls UnassignFn.
func (s *Store) Unassign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.CommandPlan, error) {
	return s.UnassignFn(ctx, req)
}

// StartCommands calls StartCommandsFn.
func (s *Store) StartCommands(ctx context.Context, req *phonefleet.CommandRequest) (*phonefleet.CommandPlan, error) {
	return s.StartCommandsFn(ctx, req)
}

// Prepare calls PrepareFn.
func (s *Store) Prepare(ctx context.Context, req *phonefleet.PrepareRequest) ([]phonefleet.PrepareStatus, error) {
	return s.PrepareFn(ctx, req)
}

// Unsubscribe calls UnsubscribeFn.
func (s *Store) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	return s.UnsubscribeFn(ctx, req)
}

// DeletePayPerUse calls DeletePayPerUseFn.
func (s *Store) DeletePayPerUse(ctx context.Context, req *phonefleet.DeletePayPerUseRequest) (*phonefleet.DeletePayPerUsePlan, error) {
	return s.DeletePayPerUseFn(ctx, req)
}

// FindRefunds calls FindRefundsFn.
func (s *Store) FindRefunds(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error) {
	return s.FindRefundsFn(ctx, filter)
}

// ClaimCommands calls ClaimCommandsFn.
func (s *Store) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error) {
	return s.ClaimCommandsFn(ctx, owner, limit, lease)
}

// CompleteCommand calls CompleteCommandFn.
func (s *Store) CompleteCommand(ctx context.Context, jobID, owner string) error {
	return s.CompleteCommandFn(ctx, jobID, owner)
}

// AcceptCommand calls AcceptCommandFn.
func (s *Store) AcceptCommand(ctx context.Context, jobID, owner string, deadline time.Time) error {
	return s.AcceptCommandFn(ctx, jobID, owner, deadline)
}

// FailCommand calls FailCommandFn.
func (s *Store) FailCommand(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error {
	return s.FailCommandFn(ctx, jobID, owner, lastError, next, final)
}

// ReportCommand calls ReportCommandFn.
func (s *Store) ReportCommand(ctx context.Context, jobID string, r phonefleet.CommandReport) error {
	return s.ReportCommandFn(ctx, jobID, r)
}

// RememberSignature calls RememberSignatureFn.
func (s *Store) RememberSignature(ctx context.Context, key string, until time.Time) (bool, error) {
	return s.RememberSignatureFn(ctx, key, until)
}

// RetryCommand calls RetryCommandFn.
func (s *Store) RetryCommand(ctx context.Context, id string) error {
	return s.RetryCommandFn(ctx, id)
}

// FindCommands calls FindCommandsFn.
func (s *Store) FindCommands(ctx context.Context, filter phonefleet.CommandFilter) ([]*phonefleet.Command, error) {
	return s.FindCommandsFn(ctx, filter)
}

// CreateAuditEvent calls CreateAuditEventFn.
func (s *Store) CreateAuditEvent(ctx context.Context, e *phonefleet.AuditEvent) error {
	return s.CreateAuditEventFn(ctx, e)
}

// AuditFailure calls AuditFailureFn, or CreateAuditEventFn when it is nil.
func (s *Store) AuditFailure(ctx context.Context, e *phonefleet.AuditEvent, cause error) error {
	if s.AuditFailureFn != nil {
		return s.AuditFailureFn(ctx, e, cause)
	}
	return s.CreateAuditEventFn(ctx, e)
}

// CountAuditEvents calls CountAuditEventsFn.
func (s *Store) CountAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) (int, error) {
	return s.CountAuditEventsFn(ctx, filter)
}

// FindAuditEvents calls FindAuditEventsFn.
func (s *Store) FindAuditEvents(ctx context.Context, filter phonefleet.AuditFilter) ([]*phonefleet.AuditEvent, error) {
	return s.FindAuditEventsFn(ctx, filter)
}

// Ping calls PingFn.
func (s *Store) Ping(ctx context.Context) error { return s.PingFn(ctx) }

// Close calls CloseFn.
func (s *Store) Close() error { return s.CloseFn() }

// SetTenantSuspended calls SetTenantSuspendedFn.
func (s *Store) SetTenantSuspended(ctx context.Context, name string, suspended bool) (*phonefleet.Tenant, error) {
	return s.SetTenantSuspendedFn(ctx, name, suspended)
}

// SuspendedTenantIDs calls SuspendedTenantIDsFn, or returns none when it is
// nil: most tests suspend no one.
func (s *Store) SuspendedTenantIDs(ctx context.Context) ([]string, error) {
	if s.SuspendedTenantIDsFn == nil {
		return nil, nil
	}
	return s.SuspendedTenantIDsFn(ctx)
}

// DeleteTenant calls DeleteTenantFn.
func (s *Store) DeleteTenant(ctx context.Context, name string) error {
	return s.DeleteTenantFn(ctx, name)
}

// CountInstancesByState calls CountInstancesByStateFn.
func (s *Store) CountInstancesByState(ctx context.Context) (map[string]map[phonefleet.InstanceState]int, error) {
	return s.CountInstancesByStateFn(ctx)
}

// SumMonthMoney calls SumMonthMoneyFn.
func (s *Store) SumMonthMoney(ctx context.Context) (map[string]phonefleet.MonthMoney, error) {
	return s.SumMonthMoneyFn(ctx)
}

// SetSKUPrice calls SetSKUPriceFn.
func (s *Store) SetSKUPrice(ctx context.Context, id string, p phonefleet.RegionPrice) (*phonefleet.SKU, error) {
	return s.SetSKUPriceFn(ctx, id, p)
}

// RetireSKU calls RetireSKUFn.
func (s *Store) RetireSKU(ctx context.Context, id string) (*phonefleet.SKU, error) {
	return s.RetireSKUFn(ctx, id)
}
