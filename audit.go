package phonefleet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEvent records one mutating API call, successful or not.
type AuditEvent struct {
	ID          int64     `json:"id"` // increasing; before_id pages by it
	At          time.Time `json:"at"`
	TenantID    string    `json:"-"`
	TenantName  string    `json:"tenant"`
	TokenID     string    `json:"-"`
	UserName    string    `json:"user"`        // the tenant user who called; "" for an operator's token
	Actor       string    `json:"actor"`       // who acted: see Principal.Actor; "system" for background work, "" when the caller was not authenticated
	ClientAddr  string    `json:"client_addr"` // the caller's IP address (behind a trusted proxy, the forwarded one); "" when not recorded
	DryRun      bool      `json:"dry_run"`     // the call only previewed its effect (an unsubscribe with ?dry_run=true)
	Action      string    `json:"action"`
	RequestID   string    `json:"request_id"`
	InstanceIDs []string  `json:"instance_ids"`
	ErrorCode   string    `json:"error_code"`
	Detail      string    `json:"detail"`
}

// ActorSystem is the actor of work nobody asked for over the API: the
// release worker, sweeps, and store operations run without a caller.
const ActorSystem = "system"

// auditActor returns actor, else userName, else ActorSystem: the actor of
// an event built from a request whose caller may not have been named.
func auditActor(actor, userName string) string {
	switch {
	case actor != "":
		return actor
	case userName != "":
		return userName
	}
	return ActorSystem
}

// AuditFilter selects audit events. Every field set must match.
type AuditFilter struct {
	TenantID   *string
	Action     *string    // exactly this action
	InstanceID *string    // events that name this instance
	Actor      *string    // exactly this actor
	Since      *time.Time // events at or after Since
	Until      *time.Time // events before Until
	BeforeID   int64      // keyset paging: events with an ID below it (0: no bound)
	Offset     int        // events to skip (page paging)
	Limit      int        // 0: no limit
}

// AuditFilterMaxLen bounds the length of the action, instance and actor
// filters, so a filter can never be longer than what is stored.
const AuditFilterMaxLen = 128

// AuditService keeps the audit trail.
type AuditService interface {
	// CreateAuditEvent stores e in a transaction of its own. At defaults
	// to now.
	CreateAuditEvent(ctx context.Context, e *AuditEvent) error
	// AuditFailure records e, the FailureAuditEvent of a mutating call that
	// failed with cause, in a transaction of its own within ctx's deadline
	// even if ctx is canceled (the client may have gone). It is the one way
	// failures are audited: the stores' own operations write only their
	// successes, and the HTTP layer calls AuditFailure for every failure,
	// wherever it happened. A store may write the event later instead (it
	// then logs it now): PostgreSQL does when cause says the operation's
	// outcome is unknown, until reading back shows that it did not commit.
	// An error means the event was neither written nor kept for later.
	AuditFailure(ctx context.Context, e *AuditEvent, cause error) error
	// FindAuditEvents returns events newest first (by ID).
	FindAuditEvents(ctx context.Context, filter AuditFilter) ([]*AuditEvent, error)
	// CountAuditEvents returns how many events match filter, ignoring its
	// BeforeID, Offset and Limit.
	CountAuditEvents(ctx context.Context, filter AuditFilter) (int, error)
}

// UnsubscribeAuditEvent returns the audit event of an unsubscribe request
// that succeeded with plan; the stores write it in the same transaction.
func UnsubscribeAuditEvent(req *UnsubscribeRequest, plan *UnsubscribePlan, now time.Time) *AuditEvent {
	changed := len(plan.Changes())
	e := &AuditEvent{
		At: now.UTC(), TenantID: req.TenantID, TokenID: req.TokenID, UserName: req.UserName, ClientAddr: req.ClientAddr, Action: ActionInstanceDelete,
		Actor: auditActor(req.Actor, req.UserName), DryRun: req.DryRun,
		RequestID: req.RequestID, InstanceIDs: req.InstanceIDs, ErrorCode: ECodeOK,
		Detail: fmt.Sprintf("unsubscribed %d, no-op %d, refund %s", changed, len(plan.Items)-changed, FormatMoney(plan.TotalRefund, plan.Currency)),
	}
	if req.DryRun {
		e.Detail = "dry run: would have " + e.Detail
	}
	return e
}

// PurchaseAuditEvent returns the audit event of a purchase that succeeded
// with order and instances; the stores write it in the same transaction.
func PurchaseAuditEvent(req *PurchaseRequest, order *Order, instances []*Instance, now time.Time) *AuditEvent {
	e := &AuditEvent{
		At: now.UTC(), TenantID: req.TenantID, TokenID: req.TokenID, UserName: req.UserName, ClientAddr: req.ClientAddr, Action: ActionInstanceCreate,
		Actor:     auditActor(req.Actor, req.UserName),
		RequestID: req.RequestID, InstanceIDs: make([]string, 0, len(instances)), ErrorCode: ECodeOK,
		Detail: fmt.Sprintf("order %s: %d %s %s instance(s) in %s, total %s",
			order.ID, order.Count, order.BillingMode, order.SKUID, order.RegionID, FormatMoney(order.Total, order.Currency)),
	}
	for _, in := range instances {
		e.InstanceIDs = append(e.InstanceIDs, in.ID)
	}
	return e
}

// Bounds on what a failed call can put in the audit trail.
const (
	maxAuditIDs     = MaxUnsubscribeIDs
	maxAuditIDBytes = 64
)

// FailureAuditEvent returns the audit event of a mutating call (action) that
// failed with err, whether it was refused before reaching a store or failed
// in one: who made it (p; nil before authentication), its request ID, and
// the instance IDs it named, at most 100 of at most 64 bytes each since a
// refused request may carry anything. It is the one builder of failure
// events; the HTTP layer writes them.
func FailureAuditEvent(action string, p *Principal, requestID string, instanceIDs []string, err error, now time.Time) *AuditEvent {
	e := &AuditEvent{
		At: now.UTC(), Action: action, RequestID: requestID, InstanceIDs: make([]string, 0, min(len(instanceIDs), maxAuditIDs)),
		ErrorCode: ErrorCode(err), Detail: ErrorMessage(err),
	}
	if p != nil {
		e.TenantID, e.TenantName, e.TokenID, e.UserName = p.TenantID, p.TenantName, p.TokenID, p.UserName
		e.Actor = p.Actor()
	}
	for _, id := range instanceIDs[:min(len(instanceIDs), maxAuditIDs)] {
		if len(id) > maxAuditIDBytes {
			id = strings.ToValidUTF8(id[:maxAuditIDBytes], "")
		}
		e.InstanceIDs = append(e.InstanceIDs, id)
	}
	return e
}

// AuditCSVHeader is the header row of the audit trail's CSV export; see
// AuditEvent.CSVRecord.
var AuditCSVHeader = []string{"id", "at", "tenant", "actor", "user", "client_addr", "dry_run", "action", "request_id", "instance_ids", "error_code", "detail"}

// CSVRecord returns e as a row of the CSV export under AuditCSVHeader: the
// time in RFC 3339 UTC, dry_run true or false, the instance IDs separated by
// spaces. A text cell that a spreadsheet would run as a formula (it starts
// with =, +, -, @, a tab or a carriage return) is prefixed with a single
// quote.
func (e *AuditEvent) CSVRecord() []string {
	return []string{
		strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), csvText(e.TenantName), csvText(e.Actor), csvText(e.UserName),
		csvText(e.ClientAddr), strconv.FormatBool(e.DryRun), csvText(e.Action), csvText(e.RequestID),
		csvText(strings.Join(e.InstanceIDs, " ")), csvText(e.ErrorCode), csvText(e.Detail),
	}
}

// csvText returns v, prefixed with a single quote when it starts with a
// character that makes a spreadsheet cell a formula.
func csvText(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
