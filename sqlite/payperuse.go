package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// DeletePayPerUse applies phonefleet.PlanDeletePayPerUse in one write
// operation: each running pay-per-use instance of the plan goes to
// deleting, loses its binding and its command in flight, records the end
// of its charge (the tenant's business time) and gets one release command,
// due now; nothing is refunded. One audit event records the request. With
// req.DryRun only the audit event is written. On any error nothing changes
// (the caller audits the failure). Errors: ENotOwned, EInvalid, internal.
func (db *DB) DeletePayPerUse(ctx context.Context, req *phonefleet.DeletePayPerUseRequest) (*phonefleet.DeletePayPerUsePlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var plan *phonefleet.DeletePayPerUsePlan
	err := db.writeWork(ctx, len(req.InstanceIDs), func(ctx context.Context, tx *Tx) error {
		found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs)
		if err != nil {
			return err
		}
		if plan, err = phonefleet.PlanDeletePayPerUse(req, found, tx.now); err != nil {
			return err
		}
		if !req.DryRun {
			if err := applyDeletePayPerUse(ctx, tx, req, plan); err != nil {
				return err
			}
		}
		return insertAuditEvent(ctx, tx, phonefleet.DeletePayPerUseAuditEvent(req, plan, tx.now))
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// applyDeletePayPerUse writes the plan's changes: state and charge end per
// instance (only a running instance moves: the transaction holds the write
// lock since it began, so anything else means a stale plan and the whole
// operation fails), the commands in flight cancelled, the release commands
// (due at wall time).
func applyDeletePayPerUse(ctx context.Context, tx *Tx, req *phonefleet.DeletePayPerUseRequest, plan *phonefleet.DeletePayPerUsePlan) error {
	changes := plan.Changes()
	if len(changes) == 0 {
		return nil
	}
	ids, cancels := make([]string, 0, len(changes)), []string{}
	releases := make([]*phonefleet.Command, 0, len(changes))
	for _, it := range changes {
		ids = append(ids, it.InstanceID)
		if it.CancelJobID != "" {
			cancels = append(cancels, it.CancelJobID)
		}
		releases = append(releases, phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, tx.wall))
	}
	ended := formatTime(plan.ChargeEndedAt)
	res, err := tx.ExecContext(ctx, `
		UPDATE instances SET state = 'deleting', assign_user = '', updated_at = ?, charge_ended_at = ?
		WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))
		  AND state = 'running' AND billing_mode = 'pay_per_use'
	`, ended, ended, req.TenantID, jsonArray(ids))
	if err != nil {
		return fmt.Errorf("update instances: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update instances: %w", err)
	} else if n != int64(len(ids)) {
		return fmt.Errorf("update instances: %d of %d still running", n, len(ids))
	}
	if len(cancels) > 0 {
		// Deleting wins: the command in flight is cancelled before the
		// release takes its place.
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET state = 'canceled', done_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('pending', 'accepted')
		`, formatTime(tx.wall), jsonArray(cancels)); err != nil {
			return fmt.Errorf("cancel commands: %w", err)
		}
	}
	// The order of the deletion is written here once orders are kept
	// (an order per deletion, with no amount: settlement charges the
	// instance up to charge_ended_at).
	return insertCommands(ctx, tx, releases)
}
