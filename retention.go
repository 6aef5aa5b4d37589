package phonefleet

import (
	"context"
	"time"
)

// RetentionService removes old audit events and finished commands, a
// batch at a time, so that a store's history does not grow without bound
// (serve --audit-retention, --job-retention). The release worker's
// outbox is never touched: only commands that are over and that no retry
// can run again go. Both stores implement it; it is separate from Store so
// that test doubles need not.
type RetentionService interface {
	// FindExpiredAuditEvents returns the oldest audit events (by ID), at
	// most limit, that AuditExpired lets go at before: the oldest ones up
	// to the first that is not older than before.
	FindExpiredAuditEvents(ctx context.Context, before time.Time, limit int) ([]*AuditEvent, error)
	// DeleteAuditEvents removes the events among ids that are older than
	// before, in one transaction, and returns how many it removed.
	DeleteAuditEvents(ctx context.Context, before time.Time, ids []int64) (int, error)
	// FindExpiredCommands reads at most limit commands created before
	// before, in the order of FindCommands (created_at, instance ID, job
	// ID) from just after the command after (nil: from the first), and
	// returns those that CommandExpired lets go given their instance's
	// state. next is the last command read, where the following call
	// starts; nil when there is none left to read.
	FindExpiredCommands(ctx context.Context, before time.Time, after *Command, limit int) (expired []*Command, next *Command, err error)
	// DeleteCommands removes the commands among ids that CommandExpired
	// still lets go, their instances' states read again in the same
	// transaction (a retry may have made one pending since), and returns
	// how many it removed.
	DeleteCommands(ctx context.Context, before time.Time, ids []string) (int, error)
}

// AuditExpired returns how many of events, oldest first, retention
// removes at before: those up to the first that is not older than before.
// Business time never goes back, so later events are not older either;
// stopping there keeps each pass from reading the whole table.
func AuditExpired(events []*AuditEvent, before time.Time) int {
	for i, e := range events {
		if !e.At.Before(before) {
			return i
		}
	}
	return len(events)
}

// CommandExpired reports whether retention may remove the command c, whose
// instance is in state, at before. Done and canceled commands that
// finished before then may go; a failed one too, once no retry can run it
// any more (CheckRetry refuses it on its instance's state): a failed
// release of an instance still deleting stays, as does a failed reboot of
// a running one, for the operator's "jobs retry". Pending and accepted
// commands never go.
func CommandExpired(c *Command, state InstanceState, before time.Time) bool {
	if c.DoneAt == nil || !c.DoneAt.Before(before) {
		return false
	}
	switch c.State {
	case JobStateDone, JobStateCanceled:
		return true
	case JobStateFailed:
		return CheckRetry(c, state, "") != nil
	}
	return false
}

// RetentionBatch is how many rows a retention pass removes in one
// transaction: small enough that it never holds the writer long.
const RetentionBatch = 500
