package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// inFlightGuard retries an operation that lost a race for an instance's
// one command in flight; the retry plans on the committed rows and refuses.
func inFlightGuard(err error) bool { return isUniqueViolation(err, "commands_in_flight_idx") }

// Assign applies phonefleet.PlanAssign in one transaction on the tenant's
// instances locked in ID order: each pair that is not a no-op binds its
// instance to its user; one audit event records the request. On error
// nothing changes (the caller audits the failure). Errors: EForbidden, ECannotAssign, EInternal.
func (db *DB) Assign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.AssignPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var plan *phonefleet.AssignPlan
	var event *phonefleet.AuditEvent
	err := db.withTxCheck(ctx, "assign", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := db.lockInstances(ctx, tx, req.TenantID, req.InstanceIDs(), true)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanAssign(req, found)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		changes := p.Changes()
		for _, c := range changes {
			queueSetAssignUser(b, req.TenantID, c.InstanceID, "", c.UserID, now)
		}
		event = phonefleet.AssignAuditEvent(req, p, now)
		queueAuditEvent(b, event)
		if err := sendBindings(ctx, tx, b, len(changes)); err != nil {
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

// Unassign applies phonefleet.PlanUnassign in one transaction on the
// tenant's instances locked in ID order: the bindings are removed and one
// wipe_user_data command per instance is written, due now; one audit event
// records the request. On error nothing changes (the caller audits the
// failure). Errors: EForbidden, ENotAllRunning, ENoBinding, EInternal.
func (db *DB) Unassign(ctx context.Context, req *phonefleet.AssignRequest) (*phonefleet.CommandPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var plan *phonefleet.CommandPlan
	var event *phonefleet.AuditEvent
	err := db.withTxCheck(ctx, "unassign", inFlightGuard, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := db.lockInstances(ctx, tx, req.TenantID, req.InstanceIDs(), true)
		if err != nil {
			return err
		}
		// Commands are scheduled on wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanUnassign(req, found, wall)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, pair := range req.Pairs {
			queueSetAssignUser(b, req.TenantID, pair.InstanceID, pair.UserID, "", now)
		}
		queueInsertCommands(b, p.Commands)
		event = phonefleet.UnassignAuditEvent(req, p, now)
		queueAuditEvent(b, event)
		if err := sendBindings(ctx, tx, b, len(req.Pairs), "insert commands"); err != nil {
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

// StartCommands applies phonefleet.PlanCommands (reboot or reset) in one
// transaction on the tenant's instances locked in ID order: one command per
// instance, due now, and one audit event. On error nothing changes (the
// caller audits the failure). Errors: EForbidden, ENotAllRunning, EInternal.
func (db *DB) StartCommands(ctx context.Context, req *phonefleet.CommandRequest) (*phonefleet.CommandPlan, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var plan *phonefleet.CommandPlan
	var event *phonefleet.AuditEvent
	err := db.withTxCheck(ctx, "start_commands", inFlightGuard, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := db.lockInstances(ctx, tx, req.TenantID, req.InstanceIDs, true)
		if err != nil {
			return err
		}
		// Commands are scheduled on wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanCommands(req, found, wall)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueInsertCommands(b, p.Commands)
		event = phonefleet.CommandAuditEvent(req, p, now)
		queueAuditEvent(b, event)
		if err := sendBindings(ctx, tx, b, 0, "insert commands"); err != nil {
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

// Prepare answers phonefleet.PlanPrepare on the tenant's instances as
// committed; only its audit event is written. Errors: ENoInstance,
// EInternal.
func (db *DB) Prepare(ctx context.Context, req *phonefleet.PrepareRequest) ([]phonefleet.PrepareStatus, error) {
	ctx = db.onTenantClock(ctx, req.TenantID)
	// One deadline for the operation and its failure audit event.
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	var out []phonefleet.PrepareStatus
	var event *phonefleet.AuditEvent
	err := db.withTxCheck(ctx, "prepare", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		found, err := db.lockInstances(ctx, tx, req.TenantID, req.InstanceIDs, false)
		if err != nil {
			return err
		}
		st, err := phonefleet.PlanPrepare(req, found)
		if err != nil {
			return err
		}
		event = phonefleet.PrepareAuditEvent(req, st, now)
		if err := insertAuditEvent(ctx, tx, event); err != nil {
			return err
		}
		out = st
		return nil
	}, auditCommitted(&event))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queueSetAssignUser queues the change of a running instance's binding
// from one user to another ("" for none).
func queueSetAssignUser(b *pgx.Batch, tenantID, instanceID, from, to string, now time.Time) {
	b.Queue(`
		UPDATE instances SET assign_user = $4, updated_at = $5
		WHERE tenant_id = $1 AND id = $2 AND assign_user = $3 AND state = 'running'`,
		tenantID, instanceID, from, to, now)
}

// sendBindings sends a batch of bindings updates (each must change one
// row: the rows are locked, so anything else is a bug), then the
// statements named by what, then the audit insert.
func sendBindings(ctx context.Context, tx pgx.Tx, b *pgx.Batch, bindings int, what ...string) error {
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for i := 0; i < bindings; i++ {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("bind instance: %w", err)
		} else if tag.RowsAffected() != 1 {
			return fmt.Errorf("bind instance: binding changed under the plan (%d rows)", tag.RowsAffected())
		}
	}
	for _, w := range what {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
	}
	// Close runs the audit insert's callback, which sets the event's ID.
	if err := br.Close(); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// lockInstances loads the tenant's instances among ids with their command
// in flight, locking them FOR UPDATE in ID order when lock is set. Rows
// changed while we waited for their locks are returned in their committed
// state.
//
// Both statements find rows by joining the IDs to the (tenant_id, id)
// index: another tenant's ID is not found there exactly as a missing one is
// not, and no row of another tenant is read. (Looking IDs up by the primary
// key and filtering by tenant would fetch every foreign row, so a foreign
// ID would cost more than a missing one and tell its existence by time.)
func (db *DB) lockInstances(ctx context.Context, tx pgx.Tx, tenantID string, ids []string, lock bool) (map[string]*phonefleet.Instance, error) {
	if hook := db.testHookFound; hook != nil {
		hook(ctx, tx, false)
	}
	if lock {
		// Lock first, read after: the read is a new statement, so under
		// READ COMMITTED it sees everything committed by the transactions
		// it waited for, their commands included (a locked row that was
		// not itself updated would otherwise be read with the joins of the
		// first statement's snapshot).
		if _, err := tx.Exec(ctx, `
			SELECT i.id FROM instances i
			JOIN unnest($2::text[]) AS r (id) ON i.tenant_id = $1 AND i.id = r.id
			ORDER BY i.id FOR UPDATE OF i
		`, tenantID, ids); err != nil {
			return nil, fmt.Errorf("lock instances: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		JOIN unnest($2::text[]) AS r (id) ON i.tenant_id = $1 AND i.id = r.id`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("lock instances: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
		var in phonefleet.Instance
		return &in, row.Scan(instanceDest(&in)...)
	})
	if err != nil {
		return nil, fmt.Errorf("lock instances: %w", err)
	}
	found := make(map[string]*phonefleet.Instance, len(list))
	for _, in := range list {
		found[in.ID] = in
	}
	if hook := db.testHookLocked; hook != nil && lock {
		hook()
	}
	if hook := db.testHookFound; hook != nil {
		hook(ctx, tx, true)
	}
	return found, nil
}
