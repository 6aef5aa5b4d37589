package phonefleet

import (
	"context"
	"time"
)

// JobState is where a release job is.
type JobState string

// Release job states.
const (
	JobStatePending JobState = "pending" // waiting for (another) delivery attempt
	JobStateDone    JobState = "done"    // delivered; the instance is released
	JobStateFailed  JobState = "failed"  // gave up after the maximum attempts; waits for an operator
)

// ReleaseJob is the outbox row that hands an unsubscribed instance back to
// the data plane. There is one per instance, written in the unsubscribe
// transaction.
type ReleaseJob struct {
	InstanceID    string     `json:"instance_id"`
	TenantID      string     `json:"tenant_id"`
	TenantName    string     `json:"tenant"`
	EventID       string     `json:"event_id"`   // stable across retries
	RequestID     string     `json:"request_id"` // of the unsubscribe
	State         JobState   `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	DoneAt        *time.Time `json:"done_at,omitempty"`
}

// NewEventID returns a new release event ID.
func NewEventID() string { return "evt_" + NewID(20) }

// ValidateClaim returns EInvalid unless a claim names its lease owner and
// asks for a positive number of jobs and a positive lease.
func ValidateClaim(owner string, limit int, lease time.Duration) error {
	if owner == "" {
		return Errorf(EInvalid, "release job lease owner required")
	} else if limit <= 0 || lease <= 0 {
		return Errorf(EInvalid, "release job claim limit and lease must be positive")
	}
	return nil
}

// ReleaseJobFilter selects release jobs.
type ReleaseJobFilter struct {
	State    *JobState
	TenantID *string
	Limit    int
}

// ReleaseJobService is the outbox the release worker drains. A claim is a
// lease: until it runs out no other worker, in this process or another, can
// claim the job.
type ReleaseJobService interface {
	// ClaimReleaseJobs leases up to limit pending jobs that are due (next
	// attempt at or before now, no live lease) to owner for lease, oldest due
	// first.
	ClaimReleaseJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]*ReleaseJob, error)

	// CompleteReleaseJob marks the job done and its instance released, once:
	// completing a done job is a no-op. ENotFound if there is no such job.
	CompleteReleaseJob(ctx context.Context, instanceID, owner string) error

	// FailReleaseJob records a failed attempt of owner's lease: attempts+1,
	// last error, and either pending until next or, when final, failed. A
	// job whose lease owner changed or that is no longer pending is left
	// alone.
	FailReleaseJob(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error

	// RetryReleaseJob makes a failed job pending and due now with attempts
	// reset. ENotFound if there is no such job, EInvalid if it is not failed.
	RetryReleaseJob(ctx context.Context, instanceID string) error

	// FindReleaseJobs lists jobs ordered by created_at, then instance ID.
	FindReleaseJobs(ctx context.Context, filter ReleaseJobFilter) ([]*ReleaseJob, error)
}
