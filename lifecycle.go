package phonefleet

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// EFrozen is KooPhone's answer for work asked of a frozen instance: it is in
// its retention period after its subscription expired and is not renewed.
// HTTP 400.
const EFrozen = "KOOPHONE.API.2004"

// FrozenMessage is the message of EFrozen, as KooPhone words it.
const FrozenMessage = "the instance already frozen."

// Default lifecycle periods: Huawei Cloud's international site keeps an
// expired yearly/monthly resource usable for 15 days (grace) and frozen for
// 15 more (retention) before it releases it.
const (
	DefaultGracePeriod     = 15 * 24 * time.Hour
	DefaultRetentionPeriod = 15 * 24 * time.Hour
)

// MaxLifecyclePeriod bounds a grace or retention period an operator may set.
const MaxLifecyclePeriod = 3650 * 24 * time.Hour

// Lifecycle audit actions. Their events' actor is ActorSystem.
const (
	ActionLifecycleExpire  = "lifecycleExpire"
	ActionLifecycleFreeze  = "lifecycleFreeze"
	ActionLifecycleRelease = "lifecycleRelease"
)

// LifecyclePeriods are how long a yearly/monthly instance stays expired
// (Grace: it keeps working) and then frozen (Retention) before it is
// released.
type LifecyclePeriods struct {
	Grace     time.Duration
	Retention time.Duration
}

// DefaultLifecyclePeriods returns the 15 + 15 days of Huawei Cloud's
// international site.
func DefaultLifecyclePeriods() LifecyclePeriods {
	return LifecyclePeriods{Grace: DefaultGracePeriod, Retention: DefaultRetentionPeriod}
}

// ValidateLifecyclePeriod returns EInvalid naming field unless d is 0 to
// MaxLifecyclePeriod.
func ValidateLifecyclePeriod(field string, d time.Duration) error {
	if d < 0 || d > MaxLifecyclePeriod {
		return Errorf(EInvalid, "%s must be 0 to %s, got %s", field, MaxLifecyclePeriod, d)
	}
	return nil
}

// Validate checks both periods.
func (p LifecyclePeriods) Validate() error {
	if err := ValidateLifecyclePeriod("grace period", p.Grace); err != nil {
		return err
	}
	return ValidateLifecyclePeriod("retention period", p.Retention)
}

// Periods returns the tenant's lifecycle periods: its own where it has
// them, def's otherwise.
func (t *Tenant) Periods(def LifecyclePeriods) LifecyclePeriods {
	p := def
	if t.GracePeriod != nil {
		p.Grace = time.Duration(*t.GracePeriod)
	}
	if t.RetentionPeriod != nil {
		p.Retention = time.Duration(*t.RetentionPeriod)
	}
	return p
}

// LifecycleDue returns when an instance in state (of a subscription
// expiring at expiresAt) takes its next lifecycle step under p: running at
// expiresAt, expired at expiresAt+Grace, frozen at expiresAt+Grace+Retention.
// ok is false for any other state: nothing is due.
func LifecycleDue(state InstanceState, expiresAt time.Time, p LifecyclePeriods) (due time.Time, ok bool) {
	switch state {
	case InstanceStateRunning:
		return expiresAt, true
	case InstanceStateExpired:
		return expiresAt.Add(p.Grace), true
	case InstanceStateFrozen:
		return expiresAt.Add(p.Grace).Add(p.Retention), true
	}
	return time.Time{}, false
}

// LifecycleTransition is one step of an instance's lifecycle, decided by
// PlanExpiry: From is the state it must still be in (the store's update is
// conditional on it), To the state it goes to, Command the data-plane
// command the step writes ("" for none), CancelJobID the command in flight
// it replaces.
type LifecycleTransition struct {
	InstanceID  string
	TenantID    string
	From        InstanceState
	To          InstanceState
	DueAt       time.Time
	Command     CommandType
	CancelJobID string
	// Cmd is the command to write, with its job ID; PlanSweep sets it.
	Cmd *Command
}

// Label returns the step's name in metrics: expired, frozen or released.
func (t *LifecycleTransition) Label() string {
	if t.To == InstanceStateDeleting {
		return string(InstanceStateReleased)
	}
	return string(t.To)
}

// PlanExpiry decides the next lifecycle step of in at the tenant's business
// time now under its periods p. Only yearly/monthly instances with an
// expiry have a lifecycle:
//
//   - running, at or after ExpiresAt: expired (the phone keeps working; no
//     command);
//   - expired, at or after ExpiresAt+Grace: frozen, with an
//     instance.freeze command;
//   - frozen, at or after ExpiresAt+Grace+Retention: deleting, with an
//     instance.release command (its confirmation makes it released); no
//     refund.
//
// A freeze or release replaces the command in flight, as an unsubscribe
// does. ok is false when nothing is due. One call decides one step;
// PlanSweep chains the steps of an instance late by more than one period.
func PlanExpiry(in *Instance, p LifecyclePeriods, now time.Time) (t LifecycleTransition, ok bool) {
	if !in.BillingMode.Prepaid() || in.ExpiresAt == nil {
		return t, false
	}
	due, ok := LifecycleDue(in.State, *in.ExpiresAt, p)
	if !ok || now.Before(due) {
		return t, false
	}
	t = LifecycleTransition{InstanceID: in.ID, TenantID: in.TenantID, From: in.State, DueAt: due}
	switch in.State {
	case InstanceStateRunning:
		t.To = InstanceStateExpired
	case InstanceStateExpired:
		t.To, t.Command, t.CancelJobID = InstanceStateFrozen, CommandFreeze, in.CommandID
	case InstanceStateFrozen:
		t.To, t.Command, t.CancelJobID = InstanceStateDeleting, CommandRelease, in.CommandID
	}
	return t, true
}

// LifecycleRequestID is the request ID of the commands and audit events of
// lifecycle steps: no request caused them.
const LifecycleRequestID = "lifecycle"

// LifecycleAuditEvent returns the audit event of a transition applied at
// the tenant's business time now. Its actor is ActorSystem.
func LifecycleAuditEvent(t *LifecycleTransition, now time.Time) *AuditEvent {
	action := ActionLifecycleExpire
	switch t.To {
	case InstanceStateFrozen:
		action = ActionLifecycleFreeze
	case InstanceStateDeleting:
		action = ActionLifecycleRelease
	}
	detail := fmt.Sprintf("%s -> %s, due %s", t.From, t.Label(), t.DueAt.UTC().Format(time.RFC3339Nano))
	if t.Cmd != nil {
		detail += fmt.Sprintf("; %s job %s", t.Command, t.Cmd.ID)
	}
	if t.CancelJobID != "" {
		detail += "; canceled job " + t.CancelJobID
	}
	return &AuditEvent{
		At: now.UTC(), TenantID: t.TenantID, Actor: ActorSystem, Action: action, RequestID: LifecycleRequestID,
		InstanceIDs: []string{t.InstanceID}, ErrorCode: ECodeOK, Detail: detail,
	}
}

// LifecycleService runs the lifecycle sweep.
type LifecycleService interface {
	// SweepLifecycle applies up to limit due lifecycle transitions (PlanExpiry
	// at each tenant's business time, under the tenant's periods or def), in
	// due-time order per tenant, and returns those it applied. Each
	// transition is a conditional update from the state it was planned on,
	// written with its command and audit event in one transaction, under
	// the locks the APIs take; a row another node or an API holds is left
	// for the next sweep. Running it again applies nothing twice.
	SweepLifecycle(ctx context.Context, def LifecyclePeriods, limit int) ([]LifecycleTransition, error)
}

// Lifecycle column values: a store keeps an instance's state as running,
// deleting or released and, while it is running, its lifecycle phase as
// active, expired or frozen. StoredState and JoinState convert.
const (
	LifecycleActive  = "active"
	LifecycleExpired = "expired"
	LifecycleFrozen  = "frozen"
)

// StoredState splits s into the state and lifecycle columns a store keeps.
func StoredState(s InstanceState) (state, lifecycle string) {
	switch s {
	case InstanceStateExpired:
		return string(InstanceStateRunning), LifecycleExpired
	case InstanceStateFrozen:
		return string(InstanceStateRunning), LifecycleFrozen
	}
	return string(s), LifecycleActive
}

// JoinState is the inverse of StoredState.
func JoinState(state, lifecycle string) InstanceState {
	if state == string(InstanceStateRunning) && lifecycle != LifecycleActive && lifecycle != "" {
		return InstanceState(lifecycle)
	}
	return InstanceState(state)
}

// LifecyclePhases are the states with a lifecycle step ahead, in the order
// of their steps.
var LifecyclePhases = []InstanceState{InstanceStateRunning, InstanceStateExpired, InstanceStateFrozen}

// LifecycleCutoff returns the latest expires_at at which an instance in
// state (one of LifecyclePhases) has its next step due at now under p: a
// store selects the due instances of a phase by expires_at <= the cutoff.
func LifecycleCutoff(state InstanceState, p LifecyclePeriods, now time.Time) time.Time {
	switch state {
	case InstanceStateExpired:
		return now.Add(-p.Grace)
	case InstanceStateFrozen:
		return now.Add(-p.Grace).Add(-p.Retention)
	}
	return now
}

// PlanSweep decides the lifecycle steps of one tenant's candidate
// instances at its business time now under p, in the order they fell due
// (then by instance ID), at most limit of them: an instance late by more
// than one period takes each of its due steps in turn, interleaved with the
// other instances' steps as real time would have ordered them. Each step
// with a command gets it, due at wall (delivery keeps wall time), and a
// later step of the same instance replaces it.
func PlanSweep(candidates []*Instance, p LifecyclePeriods, now, wall time.Time, limit int) []LifecycleTransition {
	type next struct {
		in *Instance // the instance as the steps planned so far leave it
		t  LifecycleTransition
	}
	var pending []next
	for _, in := range candidates {
		if t, ok := PlanExpiry(in, p, now); ok {
			c := *in
			pending = append(pending, next{&c, t})
		}
	}
	var out []LifecycleTransition
	for len(out) < limit && len(pending) > 0 {
		first := 0
		for i, n := range pending[1:] {
			f := pending[first].t
			if c := n.t.DueAt.Compare(f.DueAt); c < 0 || (c == 0 && n.t.InstanceID < f.InstanceID) {
				first = i + 1
			}
		}
		n := pending[first]
		t := n.t
		if t.Command != "" {
			t.Cmd = newCommand(t.Command, n.in, "", "", LifecycleRequestID, wall)
			n.in.Command, n.in.CommandID = t.Command, t.Cmd.ID
		}
		out = append(out, t)
		n.in.State = t.To
		if following, ok := PlanExpiry(n.in, p, now); ok {
			pending[first].t = following
		} else {
			pending = slices.Delete(pending, first, first+1)
		}
	}
	return out
}
