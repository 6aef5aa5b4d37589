package phonefleet

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var userIDRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,32}$`)

// ValidUserID reports whether id is 1–32 characters of [A-Za-z0-9_.@-], the
// form of an end user's ID.
func ValidUserID(id string) bool { return userIDRE.MatchString(id) }

// ValidText reports whether s is valid UTF-8 without control or
// bidirectional-override characters.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
			return false
		}
	}
	return true
}

// UserInstance is one user-to-instance pair of an assign or unassign request.
type UserInstance struct {
	UserID     string `json:"user_id"`
	InstanceID string `json:"instance_id"`
}

// String returns "user/instance", the form error messages list pairs in.
func (p UserInstance) String() string { return p.UserID + "/" + p.InstanceID }

// AssignRequest is one assign or unassign call.
type AssignRequest struct {
	TenantID   string
	TokenID    string
	UserName   string // the tenant user who called, for the audit trail
	Actor      string // who called (Principal.Actor), for the audit trail; "" means UserName, else ActorSystem
	ClientAddr string // the caller's address, for the audit trail
	RequestID  string
	Pairs      []UserInstance
}

// Validate returns EInvalid naming the field unless there are 1–100 pairs,
// each with a valid user ID and instance ID, and no instance appears twice.
func (r *AssignRequest) Validate() error { return ValidateUserInstances("user_instances", r.Pairs) }

// ValidateUserInstances checks a request's list of user-instance pairs.
// field names the list in the error.
func ValidateUserInstances(field string, pairs []UserInstance) error {
	if len(pairs) == 0 {
		return Errorf(EInvalid, "%s must contain 1-%d entries", field, MaxUnsubscribeIDs)
	} else if len(pairs) > MaxUnsubscribeIDs {
		return Errorf(EInvalid, "%s must contain at most %d entries, got %d", field, MaxUnsubscribeIDs, len(pairs))
	}
	seen := make(map[string]struct{}, len(pairs))
	for i, p := range pairs {
		if !ValidUserID(p.UserID) {
			return Errorf(EInvalid, "%s[%d].user_id must be 1-32 characters of [A-Za-z0-9_.@-]", field, i)
		} else if !ValidInstanceID(p.InstanceID) {
			return Errorf(EInvalid, "%s[%d].instance_id must be 1-32 characters of [A-Za-z0-9_-]", field, i)
		}
		if _, ok := seen[p.InstanceID]; ok {
			return Errorf(EInvalid, "%s names instance %q more than once", field, p.InstanceID)
		}
		seen[p.InstanceID] = struct{}{}
	}
	return nil
}

// InstanceIDs returns the instance IDs of the pairs, in order.
func (r *AssignRequest) InstanceIDs() []string {
	ids := make([]string, len(r.Pairs))
	for i, p := range r.Pairs {
		ids[i] = p.InstanceID
	}
	return ids
}

// CommandRequest is one reboot or batch-reset call.
type CommandRequest struct {
	TenantID    string
	TokenID     string
	UserName    string // the tenant user who called, for the audit trail
	Actor       string // who called (Principal.Actor), for the audit trail; "" means UserName, else ActorSystem
	ClientAddr  string // the caller's address, for the audit trail
	RequestID   string
	Type        CommandType // CommandReboot or CommandReset
	InstanceIDs []string
}

// Validate returns EInvalid naming the field unless the type is reboot or
// reset and instance_ids holds 1–100 distinct valid IDs.
func (r *CommandRequest) Validate() error {
	if r.Type != CommandReboot && r.Type != CommandReset {
		return Errorf(EInvalid, "command type must be reboot or reset")
	}
	return ValidateInstanceIDs("instance_ids", r.InstanceIDs)
}

// PrepareRequest is one prepare call.
type PrepareRequest struct {
	TenantID    string
	TokenID     string
	UserName    string // the tenant user who called, for the audit trail
	Actor       string // who called (Principal.Actor), for the audit trail; "" means UserName, else ActorSystem
	ClientAddr  string // the caller's address, for the audit trail
	RequestID   string
	UserID      string
	InstanceIDs []string
}

// Validate returns EInvalid naming the field unless user_id is valid and
// instance_ids holds 1–100 distinct valid IDs.
func (r *PrepareRequest) Validate() error {
	if !ValidUserID(r.UserID) {
		return Errorf(EInvalid, "user_id must be 1-32 characters of [A-Za-z0-9_.@-]")
	}
	return ValidateInstanceIDs("instance_ids", r.InstanceIDs)
}

// AssignItem is the plan for one pair of an assign request.
type AssignItem struct {
	UserInstance
	// Noop is set when the instance is already assigned to that user.
	Noop bool
}

// AssignPlan is what an assign request will do, in request order.
type AssignPlan struct {
	Items []AssignItem
}

// Changes returns the pairs whose binding is to be written.
func (p *AssignPlan) Changes() []UserInstance {
	var out []UserInstance
	for _, it := range p.Items {
		if !it.Noop {
			out = append(out, it.UserInstance)
		}
	}
	return out
}

// CommandPlan is what a request that starts commands (unassign, reboot,
// reset) will do: one new pending command per instance, in request order,
// all sharing TaskID.
type CommandPlan struct {
	TaskID   string
	Commands []*Command
}

// checkOwned returns EForbidden listing, in request order, the IDs that are
// not instances of the tenant (a foreign ID and a missing one look alike).
func checkOwned(tenantID string, ids []string, found map[string]*Instance) error {
	var missing []string
	for _, id := range ids {
		if in := found[id]; in == nil || in.TenantID != tenantID {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return Errorf(EForbidden, "no permission on instances: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Idle reports whether the instance is running (or expired, within its
// grace period) with no command in flight, the only state in which it takes
// a new command.
func (in *Instance) Idle() bool { return in.State.Usable() && in.Command == "" }

// checkFrozen returns EFrozen listing, in request order, the instances that
// are frozen: they refuse all work until renewed.
func checkFrozen(ids []string, found map[string]*Instance) error {
	var frozen []string
	for _, id := range ids {
		if in := found[id]; in != nil && in.State == InstanceStateFrozen {
			frozen = append(frozen, id)
		}
	}
	if len(frozen) > 0 {
		return Errorf(EFrozen, "%s frozen instances: %s", FrozenMessage, strings.Join(frozen, ", "))
	}
	return nil
}

// PlanAssign decides an assign request given the tenant's instances found
// by ID (missing and foreign IDs absent). Checks, in order:
//
//   - EForbidden if any instance is not the tenant's, listing them;
//   - EFrozen if any is frozen, listing them;
//   - ECannotAssign if any is not running, has a command in flight, or is
//     assigned to another user, listing them;
//
// then an instance already assigned to the same user is a no-op.
func PlanAssign(req *AssignRequest, found map[string]*Instance) (*AssignPlan, error) {
	if err := checkOwned(req.TenantID, req.InstanceIDs(), found); err != nil {
		return nil, err
	}
	if err := checkFrozen(req.InstanceIDs(), found); err != nil {
		return nil, err
	}
	var refused []string
	p := &AssignPlan{Items: make([]AssignItem, len(req.Pairs))}
	for i, pair := range req.Pairs {
		in := found[pair.InstanceID]
		switch {
		case !in.Idle(), in.AssignUser != "" && in.AssignUser != pair.UserID:
			refused = append(refused, pair.InstanceID)
		case in.AssignUser == pair.UserID:
			p.Items[i] = AssignItem{UserInstance: pair, Noop: true}
		default:
			p.Items[i] = AssignItem{UserInstance: pair}
		}
	}
	if len(refused) > 0 {
		return nil, Errorf(ECannotAssign, "instances cannot be assigned (not running, busy, or assigned to another user): %s", strings.Join(refused, ", "))
	}
	return p, nil
}

// PlanUnassign decides an unassign request at now. Checks, in order:
//
//   - EForbidden if any instance is not the tenant's, listing them;
//   - EFrozen if any is frozen, listing them;
//   - ENotAllRunning if any has a command in flight (a wipe still under
//     way included), listing them;
//   - ENoBinding if any pair is not a binding that exists, listing the
//     pairs as user/instance;
//
// then each instance gets a wipe_user_data command for its user; the store
// removes the bindings in the same transaction.
func PlanUnassign(req *AssignRequest, found map[string]*Instance, now time.Time) (*CommandPlan, error) {
	if err := checkOwned(req.TenantID, req.InstanceIDs(), found); err != nil {
		return nil, err
	}
	if err := checkFrozen(req.InstanceIDs(), found); err != nil {
		return nil, err
	}
	var busy []string
	var unbound []string
	for _, pair := range req.Pairs {
		in := found[pair.InstanceID]
		if in.Command != "" {
			busy = append(busy, pair.InstanceID)
		} else if in.AssignUser != pair.UserID {
			unbound = append(unbound, pair.String())
		}
	}
	if len(busy) > 0 {
		return nil, Errorf(ENotAllRunning, "instances are not all running and idle: %s", strings.Join(busy, ", "))
	}
	if len(unbound) > 0 {
		return nil, Errorf(ENoBinding, "user-instance bindings do not exist: %s", strings.Join(unbound, ", "))
	}
	p := &CommandPlan{TaskID: NewTaskID()}
	for _, pair := range req.Pairs {
		p.Commands = append(p.Commands, newCommand(CommandWipeUserData, found[pair.InstanceID], pair.UserID, p.TaskID, req.RequestID, now))
	}
	return p, nil
}

// PlanCommands decides a reboot or reset request at now. Checks, in order:
//
//   - EForbidden if any instance is not the tenant's, listing them;
//   - EFrozen if any is frozen, listing them;
//   - ENotAllRunning if any is not running or has a command in flight,
//     listing them;
//
// then each instance gets a command of the request's type.
func PlanCommands(req *CommandRequest, found map[string]*Instance, now time.Time) (*CommandPlan, error) {
	if err := checkOwned(req.TenantID, req.InstanceIDs, found); err != nil {
		return nil, err
	}
	if err := checkFrozen(req.InstanceIDs, found); err != nil {
		return nil, err
	}
	var busy []string
	for _, id := range req.InstanceIDs {
		if !found[id].Idle() {
			busy = append(busy, id)
		}
	}
	if len(busy) > 0 {
		return nil, Errorf(ENotAllRunning, "instances are not all running and idle: %s", strings.Join(busy, ", "))
	}
	p := &CommandPlan{TaskID: NewTaskID()}
	for _, id := range req.InstanceIDs {
		p.Commands = append(p.Commands, newCommand(req.Type, found[id], "", p.TaskID, req.RequestID, now))
	}
	return p, nil
}

// Prepare statuses (KooPhone BatchPrepareInstances).
const (
	PrepareReady      = 0 // running, idle, assigned to that user
	PrepareToAssign   = 2 // running, idle, not assigned to that user
	PrepareResetting  = 4 // a reset or a wipe of user data is in flight
	PrepareRestarting = 5 // a reboot is in flight
	PrepareOffline    = 6 // deleting or released
)

// PrepareStatus is the prepare status of one instance.
type PrepareStatus struct {
	InstanceID string `json:"instance_id"`
	Status     int    `json:"status"`
}

// PlanPrepare answers a prepare request: ENoInstance listing the IDs that
// are not instances of the tenant, EFrozen listing the frozen ones, else
// each instance's status for the
// user, in request order. Nothing changes.
func PlanPrepare(req *PrepareRequest, found map[string]*Instance) ([]PrepareStatus, error) {
	var missing []string
	for _, id := range req.InstanceIDs {
		if in := found[id]; in == nil || in.TenantID != req.TenantID {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(ENoInstance, "instances do not exist: %s", strings.Join(missing, ", "))
	}
	if err := checkFrozen(req.InstanceIDs, found); err != nil {
		return nil, err
	}
	out := make([]PrepareStatus, len(req.InstanceIDs))
	for i, id := range req.InstanceIDs {
		in := found[id]
		st := PrepareToAssign
		switch {
		case !in.State.Usable():
			st = PrepareOffline
		case in.Command == CommandReboot:
			st = PrepareRestarting
		case in.Command != "":
			st = PrepareResetting
		case in.AssignUser == req.UserID:
			st = PrepareReady
		}
		out[i] = PrepareStatus{InstanceID: id, Status: st}
	}
	return out, nil
}

// requestAuditEvent returns the audit event of an assign, unassign,
// reboot, reset or prepare request that succeeded with detail. Failures are
// audited by the caller with FailureAuditEvent.
func requestAuditEvent(action, tenantID, tokenID, userName, actor, clientAddr, requestID string, ids []string, detail string, now time.Time) *AuditEvent {
	e := &AuditEvent{
		At: now.UTC(), TenantID: tenantID, TokenID: tokenID, UserName: userName, Actor: auditActor(actor, userName), ClientAddr: clientAddr, Action: action,
		RequestID: requestID, InstanceIDs: ids, ErrorCode: ECodeOK, Detail: detail,
	}
	if e.InstanceIDs == nil {
		e.InstanceIDs = []string{}
	}
	return e
}

// AssignAuditEvent returns the audit event of an assign request that
// succeeded with plan.
func AssignAuditEvent(req *AssignRequest, plan *AssignPlan, now time.Time) *AuditEvent {
	changed := len(plan.Changes())
	detail := fmt.Sprintf("assigned %d, no-op %d: %s", changed, len(plan.Items)-changed, pairList(req.Pairs))
	return requestAuditEvent(ActionInstanceAssign, req.TenantID, req.TokenID, req.UserName, req.Actor, req.ClientAddr, req.RequestID, req.InstanceIDs(), detail, now)
}

// UnassignAuditEvent returns the audit event of an unassign request that
// succeeded with plan.
func UnassignAuditEvent(req *AssignRequest, plan *CommandPlan, now time.Time) *AuditEvent {
	detail := fmt.Sprintf("task %s: unassigned %s; wipe_user_data jobs %s", plan.TaskID, pairList(req.Pairs), jobList(plan))
	return requestAuditEvent(ActionInstanceUnassign, req.TenantID, req.TokenID, req.UserName, req.Actor, req.ClientAddr, req.RequestID, req.InstanceIDs(), detail, now)
}

// CommandAuditEvent returns the audit event of a reboot or reset request
// that succeeded with plan.
func CommandAuditEvent(req *CommandRequest, plan *CommandPlan, now time.Time) *AuditEvent {
	action := ActionInstanceReboot
	if req.Type == CommandReset {
		action = ActionInstanceReset
	}
	detail := fmt.Sprintf("task %s: %s jobs %s", plan.TaskID, req.Type, jobList(plan))
	return requestAuditEvent(action, req.TenantID, req.TokenID, req.UserName, req.Actor, req.ClientAddr, req.RequestID, req.InstanceIDs, detail, now)
}

// PrepareAuditEvent returns the audit event of a prepare request that
// answered statuses.
func PrepareAuditEvent(req *PrepareRequest, statuses []PrepareStatus, now time.Time) *AuditEvent {
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%s=%d", s.InstanceID, s.Status)
	}
	detail := fmt.Sprintf("prepare for user %s: %s", req.UserID, strings.Join(parts, ", "))
	return requestAuditEvent(ActionInstancePrepare, req.TenantID, req.TokenID, req.UserName, req.Actor, req.ClientAddr, req.RequestID, req.InstanceIDs, detail, now)
}

func pairList(pairs []UserInstance) string {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

func jobList(p *CommandPlan) string {
	parts := make([]string, len(p.Commands))
	for i, c := range p.Commands {
		parts[i] = c.InstanceID + "=" + c.ID
	}
	return strings.Join(parts, ", ")
}
