package phonefleet

import (
	"fmt"
	"strings"
	"time"
)

// ActionInstanceDeletePayPerUse is the audit action of POST
// /v1/phonefleet/instances/delete-pay-per-use. It is not an IAM action: the
// call needs ActionInstanceDelete, as unsubscribing does.
const ActionInstanceDeletePayPerUse = "instanceDeletePayPerUse"

// DeletePayPerUseRequest is one call deleting pay-per-use instances.
type DeletePayPerUseRequest struct {
	TenantID    string
	TokenID     string
	UserName    string // the tenant user who called, for the audit trail
	Actor       string // who called (Principal.Actor); "" means UserName, else ActorSystem
	ClientAddr  string // the caller's address, for the audit trail
	RequestID   string
	InstanceIDs []string // validated by ValidateInstanceIDs
	DryRun      bool
}

// DeletePayPerUseItem is the plan for one instance of a request.
type DeletePayPerUseItem struct {
	InstanceID string
	// Noop is set for an instance the tenant has already deleted (deleting
	// or released): it is left alone.
	Noop bool
	// CancelJobID is the command in flight that deleting cancels (its
	// release command replaces it), "" if none.
	CancelJobID string
}

// DeletePayPerUsePlan is what a request deleting pay-per-use instances will
// do, in request order.
type DeletePayPerUsePlan struct {
	Items []DeletePayPerUseItem
	// ChargeEndedAt is the business time at which the charges of the
	// deleted instances stop: the time of the request. Stores record it on
	// each instance deleted, so that settlement charges up to that second.
	ChargeEndedAt time.Time
}

// Changes returns the items that are not no-ops: the instances to move to
// deleting and release.
func (p *DeletePayPerUsePlan) Changes() []DeletePayPerUseItem {
	var out []DeletePayPerUseItem
	for _, it := range p.Items {
		if !it.Noop {
			out = append(out, it)
		}
	}
	return out
}

// PlanDeletePayPerUse decides a request deleting pay-per-use instances
// (already validated) given the instances found by ID within its tenant
// (missing and foreign IDs are simply absent), at now, the tenant's
// business time. Checks, in order:
//
//   - ENotOwned if any ID is not an instance of the tenant, listing every
//     such ID in request order (a foreign ID and a missing one look alike);
//   - EInvalid if any is yearly/monthly, whatever its state, listing them
//     (those are unsubscribed, with a refund);
//
// then instances already deleting or released are no-ops, and each
// running one is to go to deleting with a release command, its command in
// flight cancelled and its binding removed, its charge ending at now.
// Nothing is refunded: nothing was paid up front.
func PlanDeletePayPerUse(req *DeletePayPerUseRequest, found map[string]*Instance, now time.Time) (*DeletePayPerUsePlan, error) {
	var missing, prepaid []string
	for _, id := range req.InstanceIDs {
		in := found[id]
		if in == nil || in.TenantID != req.TenantID {
			missing = append(missing, id)
		} else if in.BillingMode != BillingModePayPerUse {
			prepaid = append(prepaid, id)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(ENotOwned, "instances do not belong to the tenant: %s", strings.Join(missing, ", "))
	}
	if len(prepaid) > 0 {
		return nil, Errorf(EInvalid, "instanceIdList: not pay-per-use instances: %s (unsubscribe yearly/monthly instances with POST /v1/instances/delete)",
			strings.Join(prepaid, ", "))
	}
	p := &DeletePayPerUsePlan{Items: make([]DeletePayPerUseItem, len(req.InstanceIDs)), ChargeEndedAt: now.UTC()}
	for i, id := range req.InstanceIDs {
		in := found[id]
		if in.Unsubscribed() {
			p.Items[i] = DeletePayPerUseItem{InstanceID: id, Noop: true}
			continue
		}
		p.Items[i] = DeletePayPerUseItem{InstanceID: id, CancelJobID: in.CommandID}
	}
	return p, nil
}

// DeletePayPerUseAuditEvent returns the audit event of a request deleting
// pay-per-use instances that succeeded with plan; the stores write it in
// the same transaction.
func DeletePayPerUseAuditEvent(req *DeletePayPerUseRequest, plan *DeletePayPerUsePlan, now time.Time) *AuditEvent {
	changed := len(plan.Changes())
	e := &AuditEvent{
		At: now.UTC(), TenantID: req.TenantID, TokenID: req.TokenID, UserName: req.UserName, ClientAddr: req.ClientAddr,
		Action: ActionInstanceDeletePayPerUse, Actor: auditActor(req.Actor, req.UserName), DryRun: req.DryRun,
		RequestID: req.RequestID, InstanceIDs: req.InstanceIDs, ErrorCode: ECodeOK,
		Detail: fmt.Sprintf("deleted %d pay-per-use, no-op %d, charges end at %s",
			changed, len(plan.Items)-changed, plan.ChargeEndedAt.UTC().Format(time.RFC3339)),
	}
	if req.DryRun {
		e.Detail = "dry run: would have " + e.Detail
	}
	return e
}
