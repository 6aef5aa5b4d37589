package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// deletePayPerUseGuard: the release and in-flight keys are the last guard.
// Should they ever fire, the retry plans on the committed rows.
func deletePayPerUseGuard(err error) bool {
	return isUniqueViolation(err, "commands_pkey", "commands_release_idx", "commands_in_flight_idx")
}

// DeletePayPerUse applies phonefleet.PlanDeletePayPerUse in one transaction
// on the tenant's instances locked in ID order: each running pay-per-use
// instance of the plan goes to deleting, loses its binding and its command
// in flight, records the end of its charge (the tenant's business time)
// and gets one release command, due now; nothing is refunded. One audit
// event records the request. With req.DryRun only the audit event is
// written. A request that waited on another sees the other's committed
// states and treats those instances as no-ops. On error nothing changes
// (the caller audits the failure). Errors: ENotOwned, EInvalid, EInternal.
func (db *DB) DeletePayPerUse(ctx context.Context, req *phonefleet.DeletePayPerUseRequest) (*phonefleet.DeletePayPerUsePlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var plan *phonefleet.DeletePayPerUsePlan
	var event *phonefleet.AuditEvent
	err := db.withTxCheck(ctx, "delete_pay_per_use", deletePayPerUseGuard, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := db.lockInstances(ctx, tx, req.TenantID, req.InstanceIDs, !req.DryRun)
		if err != nil {
			return err
		}
		// Commands are scheduled on wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanDeletePayPerUse(req, found, now)
		if err != nil {
			return err
		}
		event = phonefleet.DeletePayPerUseAuditEvent(req, p, now)
		if err := writeDeletePayPerUse(ctx, tx, req, p, event, wall); err != nil {
			return err
		}
		plan = p
		return nil
	}, auditCommitted(&event))
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// writeDeletePayPerUse writes the plan's changes (none for a dry run) and
// the audit event as one pipelined batch. The instances are locked, so the
// state update must move every one of them.
func writeDeletePayPerUse(ctx context.Context, tx pgx.Tx, req *phonefleet.DeletePayPerUseRequest, plan *phonefleet.DeletePayPerUsePlan,
	event *phonefleet.AuditEvent, wall time.Time) error {
	var ids, cancels []string
	var releases []*phonefleet.Command
	if !req.DryRun {
		for _, it := range plan.Changes() {
			ids = append(ids, it.InstanceID)
			if it.CancelJobID != "" {
				cancels = append(cancels, it.CancelJobID)
			}
			releases = append(releases, phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, wall))
		}
	}
	b := &pgx.Batch{}
	if len(ids) > 0 {
		b.Queue(`
			UPDATE instances SET state = 'deleting', assign_user = '', updated_at = $3, charge_ended_at = $3
			WHERE tenant_id = $1 AND id = ANY($2) AND state = 'running' AND billing_mode = 'pay_per_use'`,
			req.TenantID, ids, plan.ChargeEndedAt)
		if len(cancels) > 0 {
			// Deleting wins: the command in flight is cancelled before the
			// release takes its place.
			b.Queue(`
				UPDATE commands SET state = 'canceled', done_at = $2, lease_owner = NULL, lease_expires_at = NULL
				WHERE id = ANY($1) AND state IN ('pending', 'accepted')`, cancels, wall)
		}
		// The order of the deletion is written here once orders are kept
		// (an order per deletion, with no amount: settlement charges the
		// instance up to charge_ended_at).
		queueInsertCommands(b, releases)
	}
	queueAuditEvent(b, event)

	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if len(ids) > 0 {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("update instances: %w", err)
		} else if tag.RowsAffected() != int64(len(ids)) {
			return fmt.Errorf("update instances: %d of %d were running", tag.RowsAffected(), len(ids))
		}
		if len(cancels) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("cancel commands: %w", err)
			}
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("insert release commands: %w", err)
		}
	}
	// Close runs the audit insert's callback, which sets the event's ID.
	if err := br.Close(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}
