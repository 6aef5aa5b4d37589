package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// Unsubscribe applies phonefleet.PlanUnsubscribe in one write operation: each
// running instance of the plan goes to deleting, loses its binding and its
// command in flight, and gets one refund and one release command, due now;
// one audit event records the request. With req.DryRun only the audit event
// is written. On any error nothing changes (the caller audits the failure).
// Errors: ENotOwned, EPayPerUse, internal.
func (db *DB) Unsubscribe(ctx context.Context, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	u := &unsubscribeOp{req: req}
	err := db.writeWith(ctx, &writeOp{ctx: ctx, work: len(req.InstanceIDs), unsub: u, fn: func(ctx context.Context, tx *Tx) (err error) {
		u.plan, err = unsubscribe(ctx, tx, req)
		return err
	}})
	if err != nil {
		return nil, err
	}
	return u.plan, nil
}

// unsubscribe is Unsubscribe's write operation on its own: the writer runs
// it when it cannot run the unsubscribes of a batch together
// (unsubscribeGroup).
func unsubscribe(ctx context.Context, tx *Tx, req *phonefleet.UnsubscribeRequest) (*phonefleet.UnsubscribePlan, error) {
	found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs)
	if err != nil {
		return nil, err
	}
	plan, err := phonefleet.PlanUnsubscribe(req, found, tx.now)
	if err != nil {
		return nil, err
	}
	if !req.DryRun {
		if err := applyUnsubscribe(ctx, tx, req, plan); err != nil {
			return nil, err
		}
	}
	if err := insertAuditEvent(ctx, tx, phonefleet.UnsubscribeAuditEvent(req, plan, tx.now)); err != nil {
		return nil, err
	}
	return plan, nil
}

// applyUnsubscribe writes the plan's changes: state, refund and release job
// per instance, cancelling the command in flight it replaces. The state update only moves a running instance; the
// transaction holds the write lock since it began, so anything else means
// the plan was made on stale rows and the whole operation fails.
func applyUnsubscribe(ctx context.Context, tx *Tx, req *phonefleet.UnsubscribeRequest, plan *phonefleet.UnsubscribePlan) error {
	changes := plan.Changes()
	if len(changes) == 0 {
		return nil
	}

	updateStmt, err := tx.PrepareContext(ctx, `
		UPDATE instances SET state = 'deleting', assign_user = '', updated_at = ?
		WHERE id = ? AND tenant_id = ? AND state = 'running'
	`)
	if err != nil {
		return fmt.Errorf("prepare update instance: %w", err)
	}
	defer updateStmt.Close()

	refundStmt, err := tx.PrepareContext(ctx, `
		INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`)
	if err != nil {
		return fmt.Errorf("prepare insert refund: %w", err)
	}
	defer refundStmt.Close()

	cancelStmt, err := tx.PrepareContext(ctx, `
		UPDATE commands SET state = 'canceled', done_at = ?, lease_owner = NULL, lease_expires_at = NULL
		WHERE id = ? AND state IN ('pending', 'accepted')
	`)
	if err != nil {
		return fmt.Errorf("prepare cancel command: %w", err)
	}
	defer cancelStmt.Close()

	now := formatTime(tx.now)
	releases := make([]*phonefleet.Command, 0, len(changes))
	for _, it := range changes {
		res, err := updateStmt.ExecContext(ctx, now, it.InstanceID, req.TenantID)
		if err != nil {
			return fmt.Errorf("update instance %s: %w", it.InstanceID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update instance %s: %w", it.InstanceID, err)
		} else if n != 1 {
			return fmt.Errorf("update instance %s: not running any more (%d rows)", it.InstanceID, n)
		}

		r := it.Refund
		if _, err := refundStmt.ExecContext(ctx, r.InstanceID, r.TenantID, r.OrderID, r.Paid, r.Consumed,
			r.Fee, r.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {
			// Not a conflict for the caller: the plan said the instance was running.
			return fmt.Errorf("insert refund %s: %v", it.InstanceID, formatError(err))
		}
		if it.CancelJobID != "" {
			if _, err := cancelStmt.ExecContext(ctx, formatTime(tx.wall), it.CancelJobID); err != nil {
				return fmt.Errorf("cancel command %s: %w", it.CancelJobID, err)
			}
		}
		releases = append(releases, phonefleet.NewReleaseCommand(it.InstanceID, req.TenantID, req.RequestID, tx.wall))
	}
	return insertCommands(ctx, tx, releases)
}
