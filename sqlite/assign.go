package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// Assign applies phonefleet.PlanAssign in one write operation: each pair
// that is not a no-op binds its instance to its user; one audit event
// records the request. On any error nothing changes (the caller audits the
// failure). Errors: EForbidden, ECannotAssign, internal.
func (db *DB) Assign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.AssignPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var plan *phonefleet.AssignPlan
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs())
		if err != nil {
			return err
		}
		if plan, err = phonefleet.PlanAssign(req, found); err != nil {
			return err
		}
		for _, p := range plan.Changes() {
			if err := setAssignUser(ctx, tx, req.TenantID, p.InstanceID, "", p.UserID); err != nil {
				return err
			}
		}
		return insertAuditEvent(ctx, tx, phonefleet.AssignAuditEvent(req, plan, tx.now))
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// Unassign applies phonefleet.PlanUnassign in one write operation: the
// bindings are removed and one wipe_user_data command per instance is
// written, due now; one audit event records the request. On any error
// nothing changes (the caller audits the failure). Errors: EForbidden,
// ENotAllRunning, ENoBinding, internal.
func (db *DB) Unassign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.CommandPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var plan *phonefleet.CommandPlan
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs())
		if err != nil {
			return err
		}
		if plan, err = phonefleet.PlanUnassign(req, found, tx.wall); err != nil {
			return err
		}
		for _, p := range req.Pairs {
			if err := setAssignUser(ctx, tx, req.TenantID, p.InstanceID, p.UserID, ""); err != nil {
				return err
			}
		}
		if err := insertCommands(ctx, tx, plan.Commands); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, phonefleet.UnassignAuditEvent(req, plan, tx.now))
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// StartCommands applies phonefleet.PlanCommands (reboot or reset) in one
// write operation: one command per instance, due now, and one audit event.
// On any error nothing changes (the caller audits the failure). Errors:
// EForbidden, ENotAllRunning, internal.
func (db *DB) StartCommands(ctx context.Context, req *phonefleet.CommandRequest) (*phonefleet.CommandPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var plan *phonefleet.CommandPlan
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs)
		if err != nil {
			return err
		}
		if plan, err = phonefleet.PlanCommands(req, found, tx.wall); err != nil {
			return err
		}
		if err := insertCommands(ctx, tx, plan.Commands); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, phonefleet.CommandAuditEvent(req, plan, tx.now))
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// Prepare answers phonefleet.PlanPrepare on the instances as one write
// operation sees them; only its audit event is written. Errors: ENoInstance,
// internal.
func (db *DB) Prepare(ctx context.Context, req *phonefleet.PrepareRequest) ([]phonefleet.PrepareStatus, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	var out []phonefleet.PrepareStatus
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		found, err := findInstancesByID(ctx, tx, req.TenantID, req.InstanceIDs)
		if err != nil {
			return err
		}
		if out, err = phonefleet.PlanPrepare(req, found); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, phonefleet.PrepareAuditEvent(req, out, tx.now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// setAssignUser changes the binding of a running instance from one user
// to another ("" for none). The write lock is held since the operation
// began, so a row that does not match means the plan was made on stale
// rows, and the whole operation fails.
func setAssignUser(ctx context.Context, tx *Tx, tenantID, instanceID, from, to string) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE instances SET assign_user = ?, updated_at = ?
		WHERE id = ? AND tenant_id = ? AND assign_user = ? AND state = 'running'
	`, to, formatTime(tx.now), instanceID, tenantID, from)
	if err != nil {
		return fmt.Errorf("bind instance %s: %w", instanceID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("bind instance %s: %w", instanceID, err)
	} else if n != 1 {
		return fmt.Errorf("bind instance %s: binding changed under the plan (%d rows)", instanceID, n)
	}
	return nil
}
