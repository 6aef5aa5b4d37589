package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of failure audit events written late.
var (
	auditDeferredTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_audit_failures_deferred_total",
		Help: "Failure audit events not written within their request's deadline, left to the background writer.",
	})
	auditLateWrittenTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_audit_failures_written_late_total",
		Help: "Deferred failure audit events the background writer stored (or found unneeded: the operation had committed).",
	})
	auditLostTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_audit_failures_lost_total",
		Help: "Deferred failure audit events never stored (queue full or node stopped); their log line is the record.",
	})
)

// lateQueueSize bounds the failure audit events waiting to be written.
const lateQueueSize = 10000

// lateAudit is a failure audit event to write later. With a check, the event
// is only written if the operation's transaction (xid) turns out not to
// have committed.
type lateAudit struct {
	event *phonefleet.AuditEvent
	check commitCheck
	xid   uint64
}

// deferAudit logs e (the record until it is written), counts it and queues
// it for the background writer. A full queue drops it: the log line stays
// the record.
func (db *DB) deferAudit(a lateAudit, err error) {
	e := a.event
	auditDeferredTotal.Inc()
	db.log.Error("failure audit event deferred", "action", e.Action, "request_id", e.RequestID,
		"tenant_id", e.TenantID, "token_id", e.TokenID, "instance_ids", e.InstanceIDs, "error_code", e.ErrorCode,
		"detail", e.Detail, "outcome_unknown", a.check != nil, "error", err)
	select {
	case db.late <- a:
	default:
		auditLostTotal.Inc()
		db.log.Error("failure audit queue full; the log line above is the only record", "request_id", e.RequestID)
	}
}

// writeLate writes the deferred failure audit events, one at a time,
// retrying each with a doubling backoff (up to 30 s) until it is written or
// ctx ends. What is still queued then is counted as lost: it was logged.
func (db *DB) writeLate(ctx context.Context) {
	defer close(db.lateDone)
	backoff := time.Second
	for {
		var a lateAudit
		select {
		case <-ctx.Done():
			for {
				select {
				case a := <-db.late:
					auditLostTotal.Inc()
					db.log.Error("node stopping: deferred failure audit event not written; its log line is the record", "request_id", a.event.RequestID)
				default:
					return
				}
			}
		case a = <-db.late:
		}
		for {
			err := db.writeLateOne(ctx, &a)
			if err == nil {
				auditLateWrittenTotal.Inc()
				backoff = time.Second
				break
			}
			db.log.Warn("deferred failure audit event: still cannot write it", "request_id", a.event.RequestID, "retry_in", backoff.String(), "error", err)
			select {
			case <-ctx.Done():
				auditLostTotal.Inc()
				db.log.Error("node stopping: deferred failure audit event not written; its log line is the record", "request_id", a.event.RequestID)
			case <-time.After(backoff):
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			break
		}
	}
}

// writeLateOne writes a, unless its check finds the record already there
// (the operation, or an earlier attempt at writing a, committed). An attempt
// whose own commit answer is lost leaves its check in a for the next try.
func (db *DB) writeLateOne(ctx context.Context, a *lateAudit) error {
	ctx, cancel := context.WithTimeout(ctx, db.opTimeout())
	defer cancel()
	if a.check != nil {
		committed, err := db.readBack(ctx, a.check, a.xid)
		if err != nil {
			return err
		} else if committed {
			db.log.Info("outcome read back: committed; no failure audit event to write", "request_id", a.event.RequestID)
			return nil
		}
		a.check = nil
	}
	err := db.CreateAuditEvent(ctx, a.event)
	var unknown *unknownOutcomeError
	if errors.As(err, &unknown) {
		a.check, a.xid = unknown.check, unknown.xid
	}
	return err
}
