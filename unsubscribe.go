package phonefleet

import (
	"strings"
	"time"
)

// MaxUnsubscribeIDs is the most instance IDs one unsubscribe request may name.
const MaxUnsubscribeIDs = 100

// UnsubscribeRequest is one DeleteInstance call.
type UnsubscribeRequest struct {
	TenantID    string
	TokenID     string
	UserName    string // the tenant user who called, for the audit trail
	Actor       string // who called (Principal.Actor), for the audit trail; "" means UserName, else ActorSystem
	ClientAddr  string // the caller's address, for the audit trail
	RequestID   string
	InstanceIDs []string
	DryRun      bool
}

// ValidateInstanceIDs checks a request's list of instance IDs: 1–100
// distinct entries, each 1–32 characters of [A-Za-z0-9_-]. field names the
// list in the error.
func ValidateInstanceIDs(field string, ids []string) error {
	if len(ids) == 0 {
		return Errorf(EInvalid, "%s must contain 1-%d instance IDs", field, MaxUnsubscribeIDs)
	} else if len(ids) > MaxUnsubscribeIDs {
		return Errorf(EInvalid, "%s must contain at most %d instance IDs, got %d", field, MaxUnsubscribeIDs, len(ids))
	}
	seen := make(map[string]struct{}, len(ids))
	for i, id := range ids {
		if !ValidInstanceID(id) {
			return Errorf(EInvalid, "%s[%d] must be 1-32 characters of [A-Za-z0-9_-]", field, i)
		}
		if _, ok := seen[id]; ok {
			return Errorf(EInvalid, "%s has duplicate instance ID %q", field, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// UnsubscribeItem is the plan for one instance of a request.
type UnsubscribeItem struct {
	InstanceID string
	// Noop is set for an instance the tenant has already unsubscribed: it is
	// left alone and refunded nothing more.
	Noop   bool
	Refund Refund
	// CancelJobID is the command in flight that unsubscribing cancels (its
	// release command replaces it), "" if none.
	CancelJobID string
}

// UnsubscribePlan is what an unsubscribe request will do, in request order.
type UnsubscribePlan struct {
	Items       []UnsubscribeItem
	TotalRefund int64
	Currency    string
}

// Changes returns the items that are not no-ops: the instances to move to
// deleting, refund and release.
func (p *UnsubscribePlan) Changes() []UnsubscribeItem {
	var out []UnsubscribeItem
	for _, it := range p.Items {
		if !it.Noop {
			out = append(out, it)
		}
	}
	return out
}

// PlanUnsubscribe decides an unsubscribe request (already validated) given
// the instances found by ID within its tenant (missing and foreign IDs are
// simply absent), at now. Checks, in order:
//
//   - ENotOwned if any ID is not an instance of the tenant, listing every
//     such ID in request order (a foreign ID and a missing one look alike);
//   - EPayPerUse if any is pay-per-use, listing them;
//
// then instances already unsubscribed are no-ops and each running
// yearly/monthly instance gets ComputeRefund at now; its command in flight,
// if any, is to be cancelled (unsubscribing wins) and its binding removed.
// Every refund carries the request's tenant and request IDs and the time
// now: what a store writes.
func PlanUnsubscribe(req *UnsubscribeRequest, found map[string]*Instance, now time.Time) (*UnsubscribePlan, error) {
	tenantID, ids := req.TenantID, req.InstanceIDs
	var missing, payPerUse []string
	for _, id := range ids {
		in := found[id]
		if in == nil || in.TenantID != tenantID {
			missing = append(missing, id)
		} else if !in.BillingMode.Prepaid() {
			payPerUse = append(payPerUse, id)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(ENotOwned, "instances do not belong to the tenant: %s", strings.Join(missing, ", "))
	}
	if len(payPerUse) > 0 {
		return nil, Errorf(EPayPerUse, "pay-per-use instances cannot be unsubscribed: %s", strings.Join(payPerUse, ", "))
	}

	p := &UnsubscribePlan{Items: make([]UnsubscribeItem, len(ids)), Currency: Currency}
	for i, id := range ids {
		in := found[id]
		if in.Unsubscribed() {
			p.Items[i] = UnsubscribeItem{InstanceID: id, Noop: true,
				Refund: Refund{InstanceID: id, TenantID: tenantID, OrderID: in.OrderID, Paid: in.PaidAmount, Currency: in.Currency}}
			continue
		}
		r := ComputeRefund(in, now)
		r.TenantID, r.RequestID, r.CreatedAt = tenantID, req.RequestID, now.UTC()
		p.Items[i] = UnsubscribeItem{InstanceID: id, Refund: r, CancelJobID: in.CommandID}
		p.TotalRefund += r.Amount
	}
	return p, nil
}
