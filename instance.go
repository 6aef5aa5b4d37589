package phonefleet

import (
	"context"
	"time"
)

// BillingMode is how an instance is paid for.
type BillingMode string

// Billing modes. Yearly and monthly instances are prepaid and can be
// unsubscribed; pay-per-use instances cannot.
const (
	BillingModeYearly    BillingMode = "yearly"
	BillingModeMonthly   BillingMode = "monthly"
	BillingModePayPerUse BillingMode = "pay_per_use"
)

// Prepaid reports whether the mode is yearly/monthly (KooPhone "prePaid").
func (m BillingMode) Prepaid() bool { return m == BillingModeYearly || m == BillingModeMonthly }

// KooPhone returns the reference's billing_mode string: prePaid or postPaid.
func (m BillingMode) KooPhone() string {
	if m.Prepaid() {
		return "prePaid"
	}
	return "postPaid"
}

// InstanceState is where an instance is in its life.
type InstanceState string

// Instance states: running → deleting (unsubscribed, release pending) →
// released (handed back to the data plane; kept as a tombstone). A
// yearly/monthly instance whose subscription ends goes running → expired
// (grace: it keeps working) → frozen (retention: it refuses work) →
// deleting → released (PlanExpiry).
const (
	InstanceStateRunning  InstanceState = "running"
	InstanceStateExpired  InstanceState = "expired"
	InstanceStateFrozen   InstanceState = "frozen"
	InstanceStateDeleting InstanceState = "deleting"
	InstanceStateReleased InstanceState = "released"
)

// InstanceStates lists every state.
var InstanceStates = []InstanceState{InstanceStateRunning, InstanceStateExpired, InstanceStateFrozen, InstanceStateDeleting, InstanceStateReleased}

// Valid reports whether s is one of InstanceStates.
func (s InstanceState) Valid() bool {
	switch s {
	case InstanceStateRunning, InstanceStateExpired, InstanceStateFrozen, InstanceStateDeleting, InstanceStateReleased:
		return true
	}
	return false
}

// Usable reports whether an instance in state s works for its tenant:
// running, or expired within its grace period.
func (s InstanceState) Usable() bool { return s == InstanceStateRunning || s == InstanceStateExpired }

// KooPhone running_status and batch-query-status values.
const (
	StatusUnknown      = 0
	StatusStopped      = 1
	StatusRunning      = 2
	StatusGoingOffline = 3
	StatusStarting     = 4
)

// InstanceStatus is what the status queries need of an instance: its state,
// the type of its command in flight ("" when idle) and its end user.
type InstanceStatus struct {
	State      InstanceState
	Command    CommandType
	AssignUser string
}

// RunningStatus returns the KooPhone running_status as the tenant sees it:
// 4 starting while a reboot or reset is in flight, 2 running (a wipe of
// user data in flight included), 3 going offline while deleting, 1 stopped
// while frozen, 0 for released (gone). An expired instance (grace) runs.
func (s InstanceStatus) RunningStatus() int {
	switch s.State {
	case InstanceStateRunning, InstanceStateExpired:
		if s.Command == CommandReboot || s.Command == CommandReset {
			return StatusStarting
		}
		return StatusRunning
	case InstanceStateFrozen:
		return StatusStopped
	case InstanceStateDeleting:
		return StatusGoingOffline
	}
	return StatusUnknown
}

// FrozenStatus returns KooPhone's frozen_status: 1 frozen, else 0.
func (s InstanceStatus) FrozenStatus() int {
	if s.State == InstanceStateFrozen {
		return 1
	}
	return 0
}

// ExpireStatus returns batch-query's expire_status: 1 once the
// subscription has expired (expired or frozen), else 0.
func (s InstanceStatus) ExpireStatus() int {
	if s.State == InstanceStateExpired || s.State == InstanceStateFrozen {
		return 1
	}
	return 0
}

// Instance is one cloud phone of a tenant.
type Instance struct {
	ID          string        `json:"instance_id"`
	TenantID    string        `json:"tenant_id"`
	OrderID     string        `json:"order_id"`
	Name        string        `json:"instance_name"`
	RegionID    string        `json:"region"`
	SKUID       string        `json:"sku_id"`
	SKUSpec     string        `json:"instance_sku"` // the SKU's display string; filled by queries
	OS          string        `json:"os"`
	BandSize    int           `json:"band_size"`
	BillingMode BillingMode   `json:"billing_mode"`
	PeriodNum   int           `json:"period_num"` // months or years; 0 for pay-per-use
	PaidAmount  int64         `json:"paid_amount"`
	Currency    string        `json:"currency"`
	StartsAt    time.Time     `json:"starts_at"`
	ExpiresAt   *time.Time    `json:"expires_at"` // nil for pay-per-use
	State       InstanceState `json:"state"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	// AssignUser is the end user the instance is assigned to, "" if none.
	AssignUser string `json:"assign_user"`
	// Command and CommandID are the type and job ID of the command in
	// flight, "" when idle; filled by queries.
	Command   CommandType `json:"command,omitempty"`
	CommandID string      `json:"command_job_id,omitempty"`
	// ChargeEndedAt is the business time at which a pay-per-use instance
	// was deleted and its charge stopped; nil while it runs, and for
	// yearly/monthly instances.
	ChargeEndedAt *time.Time `json:"charge_ended_at,omitempty"`
}

// Status returns the instance's InstanceStatus.
func (i *Instance) Status() InstanceStatus {
	return InstanceStatus{State: i.State, Command: i.Command, AssignUser: i.AssignUser}
}

// Unsubscribed reports whether the instance has already been unsubscribed.
func (i *Instance) Unsubscribed() bool {
	return i.State == InstanceStateDeleting || i.State == InstanceStateReleased
}

// InstanceFilter selects a tenant's instances. Results are ordered by
// created_at, then ID.
type InstanceFilter struct {
	TenantID        string
	ID              *string
	Name            *string
	CreatedFrom     *time.Time // inclusive
	CreatedTo       *time.Time // inclusive
	AssignUser      *string
	IncludeReleased bool
	Offset          int
	Limit           int

	// State, if set, selects instances in that state (released ones too
	// when it is InstanceStateReleased, whatever IncludeReleased says).
	State *InstanceState
	// Prepaid, if set, selects yearly/monthly instances (true) or
	// pay-per-use ones (false).
	Prepaid *bool
	// RegionID, if set, selects instances in that region.
	RegionID *string
	// Descending orders by created_at, then ID, from the newest.
	Descending bool
}

// InstanceService buys, lists and unsubscribes instances. Every method is
// scoped to one tenant and runs in one transaction.
type InstanceService interface {
	// Purchase buys req.Count instances in one transaction and records an
	// audit event. Errors: ESKUNotFound, EInvalid (band size), EInternal.
	// The caller validates req first.
	Purchase(ctx context.Context, req *PurchaseRequest) (*Order, []*Instance, error)

	// FindInstances returns a page of the tenant's instances and the total
	// matching the filter.
	FindInstances(ctx context.Context, filter InstanceFilter) ([]*Instance, int, error)

	// FindInstanceStatuses returns the statuses of those of ids that
	// belong to the tenant; others are absent from the map.
	FindInstanceStatuses(ctx context.Context, tenantID string, ids []string) (map[string]InstanceStatus, error)

	// Unsubscribe applies PlanUnsubscribe in one transaction: instances go to
	// deleting and get one refund and one release job each; one audit event
	// records the request, also when it fails. With req.DryRun nothing but
	// the audit event is written. Errors: ENotOwned, EPayPerUse, EInternal.
	Unsubscribe(ctx context.Context, req *UnsubscribeRequest) (*UnsubscribePlan, error)

	// DeletePayPerUse applies PlanDeletePayPerUse in one transaction: each
	// running pay-per-use instance goes to deleting, loses its binding and
	// its command in flight, records plan.ChargeEndedAt as the end of its
	// charge and gets one release command; nothing is refunded. One audit
	// event records the request. With req.DryRun nothing but the audit
	// event is written. On error nothing changes (the caller audits the
	// failure). Errors: ENotOwned, EInvalid (yearly/monthly), EInternal.
	DeletePayPerUse(ctx context.Context, req *DeletePayPerUseRequest) (*DeletePayPerUsePlan, error)

	// Assign applies PlanAssign in one write operation and audits it, also
	// when it fails. Errors: EForbidden, ECannotAssign, EInternal.
	Assign(ctx context.Context, req *AssignRequest) (*AssignPlan, error)

	// Unassign applies PlanUnassign in one write operation: the bindings
	// are removed and one wipe_user_data command per instance is written;
	// audited, also when it fails. Errors: EForbidden, ENotAllRunning,
	// ENoBinding, EInternal.
	Unassign(ctx context.Context, req *AssignRequest) (*CommandPlan, error)

	// StartCommands applies PlanCommands (reboot or reset) in one write
	// operation and audits it, also when it fails. Errors: EForbidden,
	// ENotAllRunning, EInternal.
	StartCommands(ctx context.Context, req *CommandRequest) (*CommandPlan, error)

	// Prepare answers PlanPrepare on the instances as one write operation
	// has them (nothing changes but the audit event). Errors: ENoInstance,
	// EInternal.
	Prepare(ctx context.Context, req *PrepareRequest) ([]PrepareStatus, error)
}
