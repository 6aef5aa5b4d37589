package phonefleet

import (
	"context"
	"fmt"
	"time"
)

// AuditEvent records one mutating API call, successful or not.
type AuditEvent struct {
	ID          int64     `json:"-"`
	At          time.Time `json:"at"`
	TenantID    string    `json:"-"`
	TenantName  string    `json:"tenant"`
	TokenID     string    `json:"-"`
	UserName    string    `json:"user"` // the tenant user who called; "" for an operator's token
	Action      string    `json:"action"`
	RequestID   string    `json:"request_id"`
	InstanceIDs []string  `json:"instance_ids"`
	ErrorCode   string    `json:"error_code"`
	Detail      string    `json:"detail"`
}

// AuditFilter selects audit events.
type AuditFilter struct {
	TenantID *string
	Limit    int // 0: no limit
}

// AuditService keeps the audit trail.
type AuditService interface {
	// CreateAuditEvent stores e on its own (for attempts that fail before a
	// store operation runs). At defaults to now.
	CreateAuditEvent(ctx context.Context, e *AuditEvent) error
	// FindAuditEvents returns events newest first.
	FindAuditEvents(ctx context.Context, filter AuditFilter) ([]*AuditEvent, error)
}

// UnsubscribeAuditEvent returns the audit event of an unsubscribe request
// that ended with plan or err (the stores write it, in the same transaction
// on success).
func UnsubscribeAuditEvent(req *UnsubscribeRequest, plan *UnsubscribePlan, err error, now time.Time) *AuditEvent {
	e := &AuditEvent{
		At: now.UTC(), TenantID: req.TenantID, TokenID: req.TokenID, UserName: req.UserName, Action: ActionInstanceDelete,
		RequestID: req.RequestID, InstanceIDs: req.InstanceIDs, ErrorCode: ECodeOK,
	}
	if err != nil {
		e.ErrorCode, e.Detail = ErrorCode(err), ErrorMessage(err)
		return e
	}
	changed := len(plan.Changes())
	e.Detail = fmt.Sprintf("unsubscribed %d, no-op %d, refund %s", changed, len(plan.Items)-changed, FormatMoney(plan.TotalRefund, plan.Currency))
	if req.DryRun {
		e.Detail = "dry run: would have " + e.Detail
	}
	return e
}

// PurchaseAuditEvent returns the audit event of a purchase that ended with
// order and instances, or err.
func PurchaseAuditEvent(req *PurchaseRequest, order *Order, instances []*Instance, err error, now time.Time) *AuditEvent {
	e := &AuditEvent{
		At: now.UTC(), TenantID: req.TenantID, TokenID: req.TokenID, UserName: req.UserName, Action: ActionInstanceCreate,
		RequestID: req.RequestID, InstanceIDs: []string{}, ErrorCode: ECodeOK,
	}
	if err != nil {
		e.ErrorCode, e.Detail = ErrorCode(err), ErrorMessage(err)
		return e
	}
	for _, in := range instances {
		e.InstanceIDs = append(e.InstanceIDs, in.ID)
	}
	e.Detail = fmt.Sprintf("order %s: %d %s %s instance(s) in %s, total %s",
		order.ID, order.Count, order.BillingMode, order.SKUID, order.RegionID, FormatMoney(order.Total, order.Currency))
	return e
}
