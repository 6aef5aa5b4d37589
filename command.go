package phonefleet

import (
	"context"
	"strconv"
	"time"
)

// CommandType is the kind of data-plane work a command asks for.
type CommandType string

// Command types. A release hands an unsubscribed instance back; a reboot
// restarts the phone; a reset reinitialises it (its data is wiped, the
// binding stays); a wipe clears one end user's data after an unassign. A
// freeze stops the phone of an instance whose grace period ended (its data
// stays); an unfreeze starts it again.
const (
	CommandRelease      CommandType = "release"
	CommandReboot       CommandType = "reboot"
	CommandReset        CommandType = "reset"
	CommandWipeUserData CommandType = "wipe_user_data"
	CommandFreeze       CommandType = "freeze"
	CommandUnfreeze     CommandType = "unfreeze"
)

// CommandTypes lists every command type.
var CommandTypes = []CommandType{CommandRelease, CommandReboot, CommandReset, CommandWipeUserData, CommandFreeze, CommandUnfreeze}

// Valid reports whether t is one of CommandTypes.
func (t CommandType) Valid() bool {
	switch t {
	case CommandRelease, CommandReboot, CommandReset, CommandWipeUserData, CommandFreeze, CommandUnfreeze:
		return true
	}
	return false
}

// EventType returns the webhook type of the command: "instance." and the type.
func (t CommandType) EventType() string { return "instance." + string(t) }

// JobState is where a command is.
type JobState string

// Command states. Pending and accepted commands are in flight: an instance
// has at most one of them.
const (
	JobStatePending  JobState = "pending"  // waiting for (another) delivery attempt
	JobStateAccepted JobState = "accepted" // the data plane took it (202) and will report the outcome
	JobStateDone     JobState = "done"     // confirmed by the data plane
	JobStateFailed   JobState = "failed"   // gave up, or the data plane reported failure; waits for an operator
	JobStateCanceled JobState = "canceled" // unsubscribing replaced it before it was confirmed
)

// JobStates lists every state.
var JobStates = []JobState{JobStatePending, JobStateAccepted, JobStateDone, JobStateFailed, JobStateCanceled}

// Valid reports whether s is one of JobStates.
func (s JobState) Valid() bool {
	switch s {
	case JobStatePending, JobStateAccepted, JobStateDone, JobStateFailed, JobStateCanceled:
		return true
	}
	return false
}

// InFlight reports whether a command in state s is still under way.
func (s JobState) InFlight() bool { return s == JobStatePending || s == JobStateAccepted }

// Command is the outbox row of one piece of data-plane work, written in the
// same transaction as the request that caused it and delivered by the
// release worker until confirmed or failed.
type Command struct {
	ID         string      `json:"job_id"`
	Type       CommandType `json:"type"`
	InstanceID string      `json:"instance_id"`
	TenantID   string      `json:"tenant_id"`
	TenantName string      `json:"tenant"`
	UserID     string      `json:"user_id,omitempty"` // the end user whose data a wipe clears
	TaskID     string      `json:"task_id,omitempty"` // groups the commands of one request
	EventID    string      `json:"event_id"`          // stable across retries
	// Deliveries counts the deliveries of the command: 1, plus one per
	// manual retry (RetryCommand). Automatic retries of a delivery keep it.
	Deliveries int `json:"deliveries"`
	// Reported says the command ended by the data plane's report, so a
	// repeated report of the same outcome is a no-op.
	Reported  bool     `json:"reported,omitempty"`
	RequestID string   `json:"request_id"` // of the request that caused it
	State     JobState `json:"state"`
	Attempts  int      `json:"attempts"`
	// NextAttemptAt is when a pending command is due, and when an accepted
	// one times out.
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	DoneAt        *time.Time `json:"done_at,omitempty"`
}

// DeliveryID returns the X-Phonefleet-Delivery-Id of the command's current
// delivery: the event ID and the delivery's number. Automatic retries of a
// delivery send the same one; a manual retry makes a new one, so a receiver
// that deduplicates deliveries acts on it.
func (c *Command) DeliveryID() string { return c.EventID + "." + strconv.Itoa(max(c.Deliveries, 1)) }

// NewEventID returns a new webhook event ID, in time order (NewTimeID).
func NewEventID() string { return "evt_" + NewTimeID() }

// NewJobID returns a new command (job) ID, in time order (NewTimeID).
func NewJobID() string { return "job_" + NewTimeID() }

// NewTaskID returns a new task ID, shared by the commands of one request.
func NewTaskID() string { return "task_" + NewID(20) }

// newCommand returns a pending command of type t for instance in, due at now.
func newCommand(t CommandType, in *Instance, userID, taskID, requestID string, now time.Time) *Command {
	return &Command{
		ID: NewJobID(), Type: t, InstanceID: in.ID, TenantID: in.TenantID, UserID: userID, TaskID: taskID,
		EventID: NewEventID(), Deliveries: 1, RequestID: requestID, State: JobStatePending,
		NextAttemptAt: now.UTC(), CreatedAt: now.UTC(),
	}
}

// NewReleaseCommand returns the pending release command of an instance
// being unsubscribed by requestID, due at now.
func NewReleaseCommand(instanceID, tenantID, requestID string, now time.Time) *Command {
	return newCommand(CommandRelease, &Instance{ID: instanceID, TenantID: tenantID}, "", "", requestID, now)
}

// ValidateClaim returns EInvalid unless a claim names its lease owner and
// asks for a positive number of jobs and a positive lease.
func ValidateClaim(owner string, limit int, lease time.Duration) error {
	if owner == "" {
		return Errorf(EInvalid, "command lease owner required")
	} else if limit <= 0 || lease <= 0 {
		return Errorf(EInvalid, "command claim limit and lease must be positive")
	}
	return nil
}

// CommandFilter selects commands.
type CommandFilter struct {
	State      *JobState
	Type       *CommandType
	TenantID   *string
	InstanceID *string
	Limit      int
}

// CommandReport is what the data plane says about a command it accepted:
// done, or failed with an error.
type CommandReport struct {
	State JobState // JobStateDone or JobStateFailed
	Error string
}

// Validate returns EInvalid naming the field unless the report is done, or
// failed with an error of at most 1000 characters.
func (r *CommandReport) Validate() error {
	switch r.State {
	case JobStateDone:
		if r.Error != "" {
			return Errorf(EInvalid, "error must be empty when state is done")
		}
	case JobStateFailed:
		if r.Error == "" {
			return Errorf(EInvalid, "error is required when state is failed")
		} else if len(r.Error) > 1000 {
			return Errorf(EInvalid, "error must be at most 1000 bytes")
		} else if !ValidText(r.Error) {
			return Errorf(EInvalid, "error must be valid UTF-8 without control characters")
		}
	default:
		return Errorf(EInvalid, "state must be done or failed")
	}
	return nil
}

// PlanReport decides a data-plane report on cmd: apply reports whether the
// report changes the command (it is still in flight). A repeated report of
// the outcome an earlier report gave is a no-op; a report on a command that
// ended otherwise (a delivery confirmed with 200 or 204, a timeout, the
// last attempt, a cancellation, or the other outcome) is EJobFinished.
func PlanReport(cmd *Command, r CommandReport) (apply bool, err error) {
	switch {
	case cmd.State.InFlight():
		return true, nil
	case cmd.Reported && cmd.State == r.State:
		return false, nil
	}
	return false, Errorf(EJobFinished, "job %s is already %s", cmd.ID, cmd.State)
}

// CheckRetry returns EInvalid unless the command c may be retried. A
// pending command may: it is made due now (its attempts and any live lease
// stay). A failed command may run again on its instance, which is in state
// and has inFlight (a job ID, "" if none) in flight: a release needs the
// instance still deleting, any other command needs it running, and neither
// may overtake another command in flight. A freeze needs the instance
// frozen; any other command needs it running or expired.
func CheckRetry(c *Command, state InstanceState, inFlight string) error {
	switch {
	case c.State == JobStatePending:
		return nil
	case c.State != JobStateFailed:
		return Errorf(EInvalid, "job %s is %s, not failed or pending", c.ID, c.State)
	case inFlight != "":
		return Errorf(EInvalid, "job %s cannot run: instance %s has job %s in flight", c.ID, c.InstanceID, inFlight)
	case c.Type == CommandRelease && state != InstanceStateDeleting:
		return Errorf(EInvalid, "job %s cannot run: instance %s is %s, not deleting", c.ID, c.InstanceID, state)
	case c.Type == CommandFreeze && state != InstanceStateFrozen:
		return Errorf(EInvalid, "job %s cannot run: instance %s is %s, not frozen", c.ID, c.InstanceID, state)
	case c.Type != CommandRelease && c.Type != CommandFreeze && !state.Usable():
		return Errorf(EInvalid, "job %s cannot run: instance %s is %s, not running", c.ID, c.InstanceID, state)
	}
	return nil
}

// CommandService is the outbox the release worker drains. A claim is a
// lease: until it runs out no other worker, in this process or another, can
// claim the command.
type CommandService interface {
	// ClaimCommands first fails accepted commands whose report is overdue
	// (next attempt at or before now), then leases up to limit pending
	// commands that are due (no live lease) to owner for lease, oldest due
	// first.
	ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*Command, error)

	// CompleteCommand marks the command done (a release also makes its
	// instance released). Completing a command that is no longer in flight
	// (done, or canceled meanwhile) is a no-op. ENotFound if there is no
	// such command.
	CompleteCommand(ctx context.Context, jobID, owner string) error

	// AcceptCommand records that the data plane took owner's delivery and
	// will report: the command stays in flight, accepted, until a report or
	// deadline. A command no longer pending or leased to another owner is
	// left alone. ENotFound if there is no such command.
	AcceptCommand(ctx context.Context, jobID, owner string, deadline time.Time) error

	// FailCommand records a failed attempt of owner's lease: attempts+1,
	// last error, and either pending until next or, when final, failed. A
	// command whose lease owner changed or that is no longer pending is left
	// alone. ENotFound if there is no such command.
	FailCommand(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error

	// ReportCommand applies the data plane's report with PlanReport.
	// EJobNotFound if there is no such command, EJobFinished if it ended
	// with another outcome.
	ReportCommand(ctx context.Context, jobID string, r CommandReport) error

	// RetryCommand makes a failed command pending and due now with attempts
	// reset. id is a job ID, or an instance ID naming that instance's latest
	// failed command (else its latest command). ENotFound if there is no such command, EInvalid if it
	// is not failed or its instance cannot take it (another command is in
	// flight, or the instance is no longer running).
	RetryCommand(ctx context.Context, id string) error

	// FindCommands lists commands ordered by created_at, instance ID, then
	// job ID.
	FindCommands(ctx context.Context, filter CommandFilter) ([]*Command, error)
}
