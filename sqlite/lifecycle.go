package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.LifecycleService = (*DB)(nil)

// SweepLifecycle applies up to limit due lifecycle transitions in one write
// operation (the writer is the only one, so no other node or request sees
// the rows meanwhile): for each tenant, its due instances by phase at its
// business time, planned by phonefleet.PlanSweep, each moved by a
// conditional update with its command and audit event.
func (db *DB) SweepLifecycle(ctx context.Context, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
	if limit <= 0 {
		return nil, phonefleet.Errorf(phonefleet.EInvalid, "sweep limit must be positive")
	}
	tenants, err := db.dueTenants(ctx, def)
	if err != nil || len(tenants) == 0 {
		return nil, err
	}
	var done []phonefleet.LifecycleTransition
	err = db.writeWork(ctx, min(limit, MaxBatchWork), func(ctx context.Context, tx *Tx) error {
		done = done[:0]
		for _, t := range tenants {
			if len(done) >= limit {
				break
			}
			// The periods as they are now, not as the read saw them.
			if ts, err := findTenants(ctx, tx, "WHERE id = ?", t.ID); err != nil {
				return err
			} else if len(ts) == 1 {
				t = ts[0]
			}
			applied, err := db.sweepTenant(ctx, tx, t, t.Periods(def), limit-len(done))
			if err != nil {
				return err
			}
			done = append(done, applied...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// dueTenants returns the tenants with an instance due for a step, read in
// a read transaction (it probes the due index once per tenant and phase),
// so the writer is taken only when there is work, and only for those
// tenants.
func (db *DB) dueTenants(ctx context.Context, def phonefleet.LifecyclePeriods) ([]*phonefleet.Tenant, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenants, err := findTenants(ctx, tx, "")
	if err != nil {
		return nil, err
	}
	var out []*phonefleet.Tenant
	for _, t := range tenants {
		ids, err := db.dueInstances(ctx, tx, t, t.Periods(def), 1)
		if err != nil {
			return nil, err
		} else if len(ids) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// dueInstances returns the IDs of up to limit instances of each phase of
// the tenant that are due at its business time in tx, by expiry.
func (db *DB) dueInstances(ctx context.Context, tx *Tx, t *phonefleet.Tenant, p phonefleet.LifecyclePeriods, limit int) ([]string, error) {
	now, err := db.tenantNow(ctx, tx, t.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, phase := range phonefleet.LifecyclePhases {
		_, lifecycle := phonefleet.StoredState(phase)
		// The partial index (tenant_id, lifecycle, expires_at) serves this:
		// it reads the due rows and stops.
		rows, err := tx.QueryContext(ctx, `
			SELECT id FROM instances INDEXED BY instances_lifecycle_due_idx
			WHERE tenant_id = ? AND lifecycle = ? AND state = 'running' AND expires_at IS NOT NULL AND expires_at <= ?
			ORDER BY expires_at, id
			LIMIT ?
		`, t.ID, lifecycle, formatTime(phonefleet.LifecycleCutoff(phase, p, now)), limit)
		if err != nil {
			return nil, fmt.Errorf("query due instances: %w", err)
		}
		if ids, err = appendIDs(ids, rows); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// sweepTenant applies up to limit due transitions of one tenant.
func (db *DB) sweepTenant(ctx context.Context, tx *Tx, t *phonefleet.Tenant, p phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
	now, err := db.tenantNow(ctx, tx, t.ID)
	if err != nil {
		return nil, err
	}
	ids, err := db.dueInstances(ctx, tx, t, p, limit)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := findInstancesByID(ctx, tx, t.ID, ids)
	if err != nil {
		return nil, err
	}
	candidates := make([]*phonefleet.Instance, 0, len(found))
	for _, in := range found {
		candidates = append(candidates, in)
	}
	var applied []phonefleet.LifecycleTransition
	for _, tr := range phonefleet.PlanSweep(candidates, p, now, tx.wall, limit) {
		ok, err := applyTransition(ctx, tx, &tr, now)
		if err != nil {
			return nil, err
		} else if ok {
			applied = append(applied, tr)
		}
	}
	return applied, nil
}

// appendIDs appends the IDs rows holds and closes them.
func appendIDs(ids []string, rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan id: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query ids: %w", err)
	}
	return ids, nil
}

// applyTransition moves the instance from tr.From to tr.To if it is still
// in tr.From, cancels the command tr replaces, and writes tr's command and
// its audit event at the tenant's business time now. ok is false when the
// instance was no longer in tr.From: nothing is written.
func applyTransition(ctx context.Context, tx *Tx, tr *phonefleet.LifecycleTransition, now time.Time) (ok bool, err error) {
	fromState, fromLifecycle := phonefleet.StoredState(tr.From)
	toState, toLifecycle := phonefleet.StoredState(tr.To)
	if tr.To == phonefleet.InstanceStateDeleting {
		toLifecycle = fromLifecycle // the phase it was released from stays on record
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE instances SET state = ?, lifecycle = ?, updated_at = ?,
		       assign_user = CASE WHEN ? = 'deleting' THEN '' ELSE assign_user END
		WHERE id = ? AND tenant_id = ? AND state = ? AND lifecycle = ?
	`, toState, toLifecycle, formatTime(now), toState, tr.InstanceID, tr.TenantID, fromState, fromLifecycle)
	if err != nil {
		return false, fmt.Errorf("update instance %s: %w", tr.InstanceID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("update instance %s: %w", tr.InstanceID, err)
	} else if n == 0 {
		return false, nil
	}
	if tr.CancelJobID != "" {
		if _, err := tx.ExecContext(ctx, `
			UPDATE commands SET state = 'canceled', done_at = ?, lease_owner = NULL, lease_expires_at = NULL
			WHERE id = ? AND state IN ('pending', 'accepted')
		`, formatTime(tx.wall), tr.CancelJobID); err != nil {
			return false, fmt.Errorf("cancel command %s: %w", tr.CancelJobID, err)
		}
	}
	if tr.Cmd != nil {
		if err := insertCommands(ctx, tx, []*phonefleet.Command{tr.Cmd}); err != nil {
			return false, err
		}
	}
	if err := insertAuditEvent(ctx, tx, phonefleet.LifecycleAuditEvent(tr, now)); err != nil {
		return false, err
	}
	return true, nil
}
